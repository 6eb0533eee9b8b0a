"""Training data in LLaVA's conversation format: real LLaVA JSON files and the synthetic scene world alike."""

from .loader import load_dataset_folder, load_llava_json, load_training_data
from .records import IMAGE_TOKEN, BadRow, LoadedData, Record, open_image

__all__ = ["IMAGE_TOKEN", "BadRow", "LoadedData", "Record", "load_dataset_folder", "load_llava_json",
           "load_training_data", "open_image"]
