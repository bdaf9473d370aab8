"""Full fine-tuning of small models: every weight trained, same trainer as the LoRA arm."""
