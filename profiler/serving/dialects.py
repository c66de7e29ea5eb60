"""Which server's metrics these are, and its counters, summed over every label set (several
models, engines or ranks behind one endpoint).

Recognised from the sample names, in this order (output tokens; prompt tokens; requests;
requests running):

- vLLM: ``vllm:generation_tokens_total``; ``vllm:prompt_tokens_total``;
  ``vllm:request_success_total``; ``vllm:num_requests_running``;
- SGLang: ``sglang:generation_tokens_total``; ``sglang:prompt_tokens_total``; none;
  ``sglang:num_running_reqs``;
- llama.cpp (``--metrics``): ``llamacpp:tokens_predicted_total``; ``llamacpp:prompt_tokens_total``;
  none; ``llamacpp:requests_processing``;
- TGI: ``tgi_request_generated_tokens_sum``; ``tgi_request_input_length_sum``;
  ``tgi_request_success``; ``tgi_batch_current_size``.

TGI's token counts are histograms whose ``_sum`` moves only when a request completes: over a
short window they are coarse (a long request lands whole in the window it ends in). A generic
dialect takes the output-token counter the user names (``--token-metric NAME``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import AicarbonError

MAX_METRIC_NAME = 200


class DialectError(AicarbonError):
    """The endpoint's metrics are of no known server (one sentence)."""


@dataclass(frozen=True)
class Dialect:
    name: str
    output_tokens: str
    prompt_tokens: str | None
    requests: str | None
    running: str | None
    coarse: bool = False  # counts that move only when a request completes


DIALECTS = (
    Dialect("vllm", "vllm:generation_tokens_total", "vllm:prompt_tokens_total",
            "vllm:request_success_total", "vllm:num_requests_running"),
    Dialect("sglang", "sglang:generation_tokens_total", "sglang:prompt_tokens_total", None,
            "sglang:num_running_reqs"),
    Dialect("llamacpp", "llamacpp:tokens_predicted_total", "llamacpp:prompt_tokens_total", None,
            "llamacpp:requests_processing"),
    Dialect("tgi", "tgi_request_generated_tokens_sum", "tgi_request_input_length_sum", "tgi_request_success",
            "tgi_batch_current_size", coarse=True),
)  # fmt: skip


@dataclass(frozen=True)
class Counters:
    """One scrape's figures, each summed over its label sets (None: the server has none)."""

    output_tokens: float
    prompt_tokens: float | None
    requests: float | None
    running: float | None


def generic(metric: str) -> Dialect:
    """``--token-metric NAME``: that counter's samples (``NAME`` or ``NAME_total``)."""
    if not metric or len(metric) > MAX_METRIC_NAME or not all(c.isalnum() or c in "_:" for c in metric):
        raise DialectError(f"--token-metric {metric[:60]!r} is not a Prometheus metric name")
    return Dialect("generic", metric, None, None, None)


MODEL_LABELS = ("model_name", "model")  # vLLM's and SGLang's label naming the served model
MAX_MODELS = 8


def sums(text: str, models: set[str] | None = None) -> dict[str, float]:
    """Every sample name's value summed over its label sets (the models the labels name added
    to ``models``); ``DialectError`` for text that is not the Prometheus exposition format
    (prometheus_client's parser reads it)."""
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, float] = {}
    try:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                value = float(sample.value)
                if value == value and abs(value) != float("inf"):  # NaN and infinities: no count
                    found[sample.name] = found.get(sample.name, 0.0) + value
                if models is not None and len(models) < MAX_MODELS:
                    models.update(sample.labels[k][:200] for k in MODEL_LABELS if sample.labels.get(k))
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise DialectError(f"not Prometheus metrics ({str(exc)[:80]})") from None
    return found


def detect(found: dict[str, float], token_metric: str | None = None) -> Dialect:
    """The dialect of a scrape's sample names (``--token-metric`` wins)."""
    if token_metric is not None:
        dialect = generic(token_metric)
        if dialect.output_tokens in found or dialect.output_tokens + "_total" in found:
            return dialect
        raise DialectError(f"no metric {token_metric} at the endpoint")
    for dialect in DIALECTS:
        if dialect.output_tokens in found:
            return dialect
    raise DialectError(
        "no token counter of vLLM, SGLang, llama.cpp or TGI at the endpoint: pass --token-metric NAME"
    )


def counters(found: dict[str, float], dialect: Dialect) -> Counters:
    output = found.get(dialect.output_tokens)
    if output is None and dialect.name == "generic":
        output = found.get(dialect.output_tokens + "_total")
    if output is None:
        raise DialectError(f"the endpoint stopped exposing {dialect.output_tokens}")

    def optional(name: str | None) -> float | None:
        return found.get(name) if name is not None else None

    return Counters(
        output, optional(dialect.prompt_tokens), optional(dialect.requests), optional(dialect.running)
    )
