"""The synthetic seismic world (issue #17): sections, their images, descriptions and coordinate questions."""
