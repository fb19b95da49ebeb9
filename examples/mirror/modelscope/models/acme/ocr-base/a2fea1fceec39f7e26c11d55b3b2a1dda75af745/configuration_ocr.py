from transformers import PretrainedConfig


class OcrConfig(PretrainedConfig):
    model_type = "ocr"
