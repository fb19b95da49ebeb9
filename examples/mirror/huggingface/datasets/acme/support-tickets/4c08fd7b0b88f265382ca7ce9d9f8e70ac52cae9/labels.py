LABELS = ["billing", "bug", "question"]
