"""A stand-in model server for the serving tests: it exposes one dialect's counters on
127.0.0.1 and, at every scrape, before it answers, counts one step of work: +100 output tokens,
+40 prompt tokens, +2 requests, and +5 J on its simulated RAPL counter. Energy and counters
then move together, so the energy per token of any window is exact: 0.05 J per output token,
0.125 J per prompt token, 2.5 J per request.

    python serving_stand_in.py PORT DIALECT ENERGY_UJ_FILE [--reset-after N] [--die-after N]
                               [--answer html|garbage|huge|slow|none] [--labels K]

``--labels K`` spreads the counts over K label sets (models) that the scrape must sum;
``--reset-after N`` restarts the counters from 0 after the Nth scrape; ``--die-after N`` exits 3
at the scrape after the Nth; ``--answer`` sends something that is not metrics. SIGTERM ends it with 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAMES = {
    "vllm": ("vllm:generation_tokens_total", "vllm:prompt_tokens_total", "vllm:request_success_total",
             "vllm:num_requests_running"),
    "sglang": ("sglang:generation_tokens_total", "sglang:prompt_tokens_total", None,
               "sglang:num_running_reqs"),
    "llamacpp": ("llamacpp:tokens_predicted_total", "llamacpp:prompt_tokens_total", None,
                 "llamacpp:requests_processing"),
    "tgi": ("tgi_request_generated_tokens_sum", "tgi_request_input_length_sum", "tgi_request_success",
            "tgi_batch_current_size"),
    "generic": ("my_output_tokens_total", None, None, None),
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("dialect", choices=sorted(NAMES))
    parser.add_argument("energy_file")
    parser.add_argument("--reset-after", type=int, default=0)
    parser.add_argument("--die-after", type=int, default=0)
    parser.add_argument("--answer", default="metrics")
    parser.add_argument("--labels", type=int, default=1)
    args = parser.parse_args()
    state = {"scrapes": 0, "steps": 0, "energy_uj": int(open(args.energy_file).read())}
    output, prompt, requests, running = NAMES[args.dialect]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            state["scrapes"] += 1
            if args.die_after and state["scrapes"] > args.die_after:
                os._exit(3)  # the server dies: this scrape gets no answer
            state["steps"] += 1
            state["energy_uj"] += 5_000_000
            temporary = args.energy_file + ".new"
            with open(temporary, "w") as handle:
                handle.write(f"{state['energy_uj']}\n")
            os.replace(temporary, args.energy_file)
            body, kind = self.body(), "text/plain; version=0.0.4"
            if args.answer == "html":
                body, kind = b"<html><body>login</body></html>", "text/html"
            elif args.answer == "garbage":
                body = b"this is { not metrics\n\x00\xff"
            elif args.answer == "huge":
                body = b"# " + b"x" * (9 << 20) + b"\n"
            elif args.answer == "slow":
                time.sleep(5)
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            if args.reset_after and state["scrapes"] == args.reset_after:
                state["steps"] = 0  # the server restarted: its counters start again from 0

        def body(self) -> bytes:
            steps, k = state["steps"], args.labels
            lines = []
            for name, per_step in ((output, 100), (prompt, 40), (requests, 2)):
                if name is None:
                    continue
                for i in range(k):  # the counts spread over k models: their sum is the total
                    share = per_step * steps / k
                    lines.append(f'{name}{{model_name="model-{i}"}} {share}')
            if running is not None:
                lines.append(f"{running} 3")
            return ("\n".join(lines) + "\n").encode()

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print("serving", flush=True)
    if args.answer == "none":
        server.server_close()  # the port answers nothing
        time.sleep(3)
        return
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
