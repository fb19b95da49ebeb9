from transformers import PreTrainedModel

from .configuration_ocr import OcrConfig


class OcrModel(PreTrainedModel):
    config_class = OcrConfig
