"""The scheme planner: contribution analysis (measured gains of biases, weights and channel
fractions by short real fine-tuning runs of the compiled C), the search of the best scheme
under a budget, and the runners that run the jobs. An application of compile."""
