"""The torch layer: network, training, data to tensors, the data-driven start, gradients.

Nothing here knows AnnData: the tools in :mod:`scsaliency.tl` turn AnnData into a
:class:`~scsaliency.nn.tensors.CellMatrix` and call these modules.

- :mod:`~scsaliency.nn.network`: :class:`OrthoAE` and its decoders;
- :mod:`~scsaliency.nn.tensors`: cells of a matrix as tensors, a minibatch at a time;
- :mod:`~scsaliency.nn.start`: the data-driven start of the additive decoder's programs;
- :mod:`~scsaliency.nn.training` and :mod:`~scsaliency.nn.step`: the training loop and step;
- :mod:`~scsaliency.nn.inference`: the representation of every cell;
- :mod:`~scsaliency.nn.gradients`: saliency of the units with respect to the input genes.
"""

from .network import AdditiveDecoder, OrthoAE

__all__ = ["OrthoAE", "AdditiveDecoder"]
