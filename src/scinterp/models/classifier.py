"""Cell-identity classifiers: a gene-set-token transformer (TOSICA-like) and a plain MLP.

Both map a dense batch of log-normalized expression (cells x genes) to class logits in
``forward``; that is what post-hoc attribution explains. The transformer's class-token
attention over gene-set tokens is its intrinsic explanation (:meth:`AttentionClassifier.attention`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from scinterp.models.registry import ModelSpec, register_model

__all__ = ["AttentionClassifier", "MLPClassifier", "classification_loss"]


def classification_loss(logits: Tensor, y: Tensor) -> dict[str, Tensor]:
    """Cross-entropy plus accuracy (logged, not optimized)."""
    loss = F.cross_entropy(logits.float(), y)
    with torch.no_grad():
        acc = (logits.argmax(dim=1) == y).float().mean()
    return {"loss": loss, "accuracy": acc}


class MLPClassifier(nn.Module):
    """Feed-forward classifier: genes -> hidden layers (LayerNorm, ReLU, dropout) -> logits.

    Parameters
    ----------
    n_genes
        Input features.
    n_classes
        Output classes.
    hidden
        Width of each hidden layer.
    dropout
        Dropout after each hidden layer.
    """

    def __init__(
        self,
        n_genes: int,
        n_classes: int,
        hidden: Sequence[int] = (256, 128),
        dropout: float = 0.1,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = n_genes
        for h in hidden:
            layers += [nn.Linear(width, h), nn.LayerNorm(h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits, cells x classes."""
        return self.net(x)

    def split_input_linear(self) -> tuple[nn.Linear, nn.Module]:
        """The first layer (linear in the genes) and the rest: ``forward(x) ==
        rest(first(x))``; integrated gradients integrates past the first layer
        (:class:`scinterp.attribution.core.IntegratedGradients`)."""
        return self.net[0], self.net[1:]

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Cross-entropy on ``batch["x"]``, ``batch["y"]``."""
        return classification_loss(self(batch["x"]), batch["y"])


class _Block(nn.Module):
    """Pre-norm transformer encoder block that can return its attention weights."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, 2 * d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(2 * d_model, d_model),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, h: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        q = self.norm1(h)
        a, w = self.attn(q, q, q, need_weights=need_weights, average_attn_weights=True)
        h = h + self.drop(a)
        h = h + self.drop(self.ff(self.norm2(h)))
        return h, w


class AttentionClassifier(nn.Module):
    """Transformer over gene-set tokens with a class token (TOSICA-like).

    Each token is one gene set, embedded by a masked linear projection of its genes only
    (the mask is applied in every forward pass, so weights of genes outside the set never
    act). Genes in no set form one extra "remaining genes" token. A class token attends to
    the gene-set tokens through ``n_layers`` pre-norm encoder blocks; its final state gives
    the logits.

    Parameters
    ----------
    n_genes
        Input features.
    tokens
        One sequence of gene (column) indices per gene set, in the order of the gene sets.
    n_classes
        Output classes.
    d_model, n_heads, n_layers, dropout
        Transformer size.

    Attributes
    ----------
    n_tokens
        Number of gene tokens (gene sets, plus one if some genes are in no set).
    has_remainder
        Whether the last token is the "remaining genes" token.
    """

    def __init__(
        self,
        n_genes: int,
        tokens: Sequence[Sequence[int] | Tensor],
        n_classes: int,
        d_model: int = 32,
        n_heads: int = 4,
        n_layers: int = 2,
        dropout: float = 0.1,
    ):
        super().__init__()
        if len(tokens) == 0:
            raise ValueError("AttentionClassifier needs at least one gene-set token")
        mask = torch.zeros(n_genes, len(tokens) + 1, dtype=torch.bool)
        for t, genes in enumerate(tokens):
            idx = torch.as_tensor(genes, dtype=torch.long).reshape(-1)
            if idx.numel() == 0:
                raise ValueError(f"gene-set token {t} has no genes")
            if int(idx.max()) >= n_genes or int(idx.min()) < 0:
                raise ValueError(f"gene-set token {t} has gene indices outside [0, {n_genes})")
            mask[idx, t] = True
        remaining = ~mask[:, :-1].any(dim=1)
        self.has_remainder = bool(remaining.any())
        if self.has_remainder:
            mask[:, -1] = remaining
        else:
            mask = mask[:, :-1]
        self.n_tokens = mask.shape[1]
        self.register_buffer("token_mask", mask)  # genes x tokens
        # token t: e_t = sum_{g in t} x_g W[t, :, g] + b_t ; masked in forward.
        w = torch.empty(self.n_tokens, d_model, n_genes)
        nn.init.normal_(w, std=1.0 / max(1.0, float(mask.sum(0).float().mean()) ** 0.5))
        self.token_weight = nn.Parameter(w * mask.T[:, None, :])
        self.token_bias = nn.Parameter(torch.zeros(self.n_tokens, d_model))
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        nn.init.normal_(self.cls, std=0.02)
        self.blocks = nn.ModuleList(_Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_classes)

    def _embed(self, x: Tensor) -> Tensor:
        w = self.token_weight * self.token_mask.T[:, None, :].to(self.token_weight.dtype)
        tok = torch.einsum("bg,tdg->btd", x, w) + self.token_bias
        cls = self.cls.expand(x.shape[0], -1, -1)
        return torch.cat([cls, tok], dim=1)

    def _encode(self, x: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        h = self._embed(x)
        w = None
        for i, block in enumerate(self.blocks):
            last = i == len(self.blocks) - 1
            h, w = block(h, need_weights=need_weights and last)
        return self.norm(h[:, 0]), w

    def forward(self, x: Tensor) -> Tensor:
        """Class logits, cells x classes."""
        return self.head(self._encode(x)[0])

    def attention(self, x: Tensor) -> Tensor:
        """Class-token attention to each gene token, last layer, averaged over heads.

        Returns
        -------
        Tensor
            cells x ``n_tokens`` (gene sets in order, then the remaining-genes token if
            any). The class token's attention to itself is left out, so rows sum to at
            most 1.
        """
        _, w = self._encode(x, need_weights=True)
        return w[:, 0, 1:]

    def loss(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Cross-entropy on ``batch["x"]``, ``batch["y"]``."""
        return classification_loss(self(batch["x"]), batch["y"])


# ------------------------------------------------------------------ specs
def _build_attention(data) -> dict:
    return {"n_genes": data.n_genes, "tokens": data.set_indices(), "n_classes": len(data.classes)}


def _name_tokens(module: AttentionClassifier, data) -> None:
    data.meta["token_names"] = data.set_names(module.has_remainder)


def _build_mlp(data) -> dict:
    return {"n_genes": data.n_genes, "n_classes": len(data.classes)}


register_model(
    ModelSpec(
        name="attention_classifier",
        cls=AttentionClassifier,
        kind="classifier",
        needs=("gene_sets", "labels"),
        attributed=True,
        sweep_kwargs=("d_model", "n_heads", "n_layers", "dropout"),
        build=_build_attention,
        finish=_name_tokens,
        provides=("cell_types", "attention"),
        # 2 threads (the default): its token einsum and attention keep a second thread
        # busy (1.5 of the 4.8 CPU-s of 6 demo epochs), and in its attribute jobs (IG:
        # 4.5 of 14.6 CPU-s, at most 1.45x faster with it)
        attribute_threads=2,
    )
)
register_model(
    ModelSpec(
        name="mlp_classifier",
        cls=MLPClassifier,
        kind="classifier",
        needs=("labels",),
        uses=("gene_sets",),
        attributed=True,
        sweep_kwargs=("hidden", "dropout"),
        build=_build_mlp,
        # a training job's second thread did 0.3 of its 5.7 CPU-s (demo, 6 epochs,
        # OMP_WAIT_POLICY=PASSIVE): at most 1.05x faster with it, so one core per job and
        # the ensemble's members train two at a time on 2 cores
        threads=1,
    )
)
