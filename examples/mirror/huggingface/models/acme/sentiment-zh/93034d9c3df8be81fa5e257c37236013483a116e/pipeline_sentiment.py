from transformers import TextClassificationPipeline


class SentimentPipeline(TextClassificationPipeline):
    def postprocess(self, outputs, **kwargs):
        return super().postprocess(outputs, **kwargs)
