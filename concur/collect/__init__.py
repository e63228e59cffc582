"""Outcome collection: run strategies on tasks, grade the answers, measure the cost."""
