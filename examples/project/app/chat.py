"""Chat service: a causal LM with custom modelling code from the Hub."""

import os

from transformers import AutoModelForCausalLM, AutoTokenizer

MODEL = os.environ.get("CHAT_MODEL", "acme/chat-7b")
REVISION = "main"


def load_chat():
    tokenizer = AutoTokenizer.from_pretrained(MODEL, revision=REVISION)
    model = AutoModelForCausalLM.from_pretrained(
        MODEL,
        revision=REVISION,
        trust_remote_code=True,
    )
    return tokenizer, model


def reply(prompt: str) -> str:
    tokenizer, model = load_chat()
    ids = tokenizer(prompt, return_tensors="pt")
    return tokenizer.decode(model.generate(**ids, max_new_tokens=64)[0])
