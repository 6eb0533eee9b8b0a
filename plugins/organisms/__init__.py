"""The model organisms: tiny LLaMA-1/2/3 (and, via the vision plugin, CLIP) built by the project.

The built artefacts live in the ``llama1``/``llama2``/``llama3`` folders here and load with
``from_pretrained``; ``harness organisms build`` rebuilds them (see :mod:`.build`).
"""
