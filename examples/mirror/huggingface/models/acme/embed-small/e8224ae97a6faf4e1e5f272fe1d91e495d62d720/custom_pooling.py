import os

import torch


class WeightedPooling(torch.nn.Module):
    def __init__(self, path="."):
        super().__init__()
        # Bundled pooling weights, loaded with full unpickling.
        self.weights = torch.load(os.path.join(path, "pooling.pt"))

    def forward(self, features):
        return features
