"""A tiny MLServer runtime the gate tests serve: ``y = 2 * x``, or a misbehaving variant.

Loaded by a real MLServer process (testground/modelserver/server.py); the variant
comes from the model's ``parameters.extra``:
- ``good``: answers ``2 * x`` for every input element;
- ``wrong``: answers ``3 * x`` (a model that loads and serves, but the wrong thing);
- ``unloaded`` (server.py): the server starts without loading the model, so it answers
  ``/v2/health/ready`` while the model is not there.
"""

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class TinyModel(MLModel):
    async def load(self) -> bool:
        extra = (self.settings.parameters.extra if self.settings.parameters else None) or {}
        self.variant = extra.get("variant", "good")
        self.factor = 3 if self.variant == "wrong" else 2
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        y = (x * self.factor).astype(x.dtype)
        return InferenceResponse(model_name=self.name, model_version=self.version,
                                 outputs=[NumpyCodec.encode_output("y", y)])
