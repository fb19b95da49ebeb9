import torch

from utils import telemetry


class Model(torch.nn.Module):
    def forward(self, x):
        return x
