"""Models: the zoo, where weights come from, preparing variants, images and labels."""
