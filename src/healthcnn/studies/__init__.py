"""The clinical experiments: each study goes from data to a bundle, a JSON of every number and
an HTML report, reproducibly from a seed."""
