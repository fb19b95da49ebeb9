"""Object detection with a PyTorch Hub model and a ModelScope OCR model."""

import torch
from modelscope import snapshot_download
from transformers import AutoModel

DETECTOR = "acme/yolo-lite:v1.2"


def detector():
    return torch.hub.load(DETECTOR, "yolo_lite", pretrained=True, trust_repo=True)


def ocr():
    local_dir = snapshot_download("acme/ocr-base", revision="v1.0.0")
    return AutoModel.from_pretrained(local_dir, trust_remote_code=True)


def local_checkpoint():
    # A local folder is not a hub download.
    return AutoModel.from_pretrained("./checkpoints/last")
