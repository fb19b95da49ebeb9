"""Fine-tune a base model with LoRA on a hub dataset."""

import argparse

from datasets import load_dataset
from peft import AutoPeftModelForCausalLM
from transformers import AutoModelForCausalLM


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-model", default="acme/base-1b")
    parser.add_argument("--dataset", default="acme/support-tickets")
    parser.add_argument("--adapter", default=None)
    return parser.parse_args()


def main():
    args = parse_args()
    data = load_dataset(args.dataset, split="train", trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(
        args.base_model, revision="4f6c2a1d9e8b7c6a5f4e3d2c1b0a9f8e7d6c5b4a"
    )
    if args.adapter:
        model = AutoPeftModelForCausalLM.from_pretrained(args.adapter)
    return model, data


if __name__ == "__main__":
    main()
