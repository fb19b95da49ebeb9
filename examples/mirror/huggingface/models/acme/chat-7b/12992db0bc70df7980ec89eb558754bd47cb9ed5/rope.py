import torch


def apply_rope(x):
    return torch.sin(x)
