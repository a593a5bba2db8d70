"""Data-quality findings: what is wrong in the input, said so a site can fix it."""
