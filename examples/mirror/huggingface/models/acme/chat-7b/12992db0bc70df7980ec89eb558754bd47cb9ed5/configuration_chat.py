from transformers import PretrainedConfig


class ChatConfig(PretrainedConfig):
    model_type = "chat"

    def __init__(self, hidden_size=1024, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)
