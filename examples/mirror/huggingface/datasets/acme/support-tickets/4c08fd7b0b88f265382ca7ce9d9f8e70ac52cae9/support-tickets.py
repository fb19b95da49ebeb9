import csv

import datasets

from .labels import LABELS


class SupportTickets(datasets.GeneratorBasedBuilder):
    def _info(self):
        return datasets.DatasetInfo(features=datasets.Features({"text": datasets.Value("string")}))

    def _generate_examples(self, filepath):
        with open(filepath, encoding="utf-8") as f:
            for i, row in enumerate(csv.reader(f)):
                yield i, {"text": row[0]}
