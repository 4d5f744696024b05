"""Jobs: the model every long operation shares, its persistence and the runner."""
