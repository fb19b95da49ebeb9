import paddlehub as hub
from paddlehub.module.module import moduleinfo


@moduleinfo(name="senta_bilstm", version="1.2.0")
class SentaBiLSTM(hub.Module):
    def sentiment_classify(self, texts):
        return [{"text": t, "positive_probs": 0.5} for t in texts]
