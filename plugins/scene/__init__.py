"""The synthetic scene world: seeded scenes, their images, texts and questions, and the datasets built from them."""
