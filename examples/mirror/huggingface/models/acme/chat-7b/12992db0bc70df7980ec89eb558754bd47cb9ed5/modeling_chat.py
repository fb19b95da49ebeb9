import torch
from transformers import PreTrainedModel

from .configuration_chat import ChatConfig
from .rope import apply_rope


class ChatForCausalLM(PreTrainedModel):
    config_class = ChatConfig

    def __init__(self, config):
        super().__init__(config)
        self.proj = torch.nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x):
        return apply_rope(self.proj(x))
