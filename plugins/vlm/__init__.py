"""VLM composition: a vision plugin's tower + an mlp2x_gelu projector + a backbone plugin's LLM
as a stock ``transformers.LlavaForConditionalGeneration`` with a matching ``LlavaProcessor``."""
