"""The LoRA fine-tuning arm (peft): training, adapter cache, risk checks."""

from strategies.lora.config import LoraArmConfig

__all__ = ["LoraArmConfig"]
