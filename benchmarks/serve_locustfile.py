"""The load of ``python -m benchmarks.serve_load``: each simulated client sends one predict
request (one example, TF Serving's row format) after another, with no pause, and counts any
answer that is not a 200 with predictions as a failure. Read by ``locust -f``; the request
comes from the environment: TFXFER_LOAD_PATH (the URL path) and TFXFER_LOAD_BODY (a file
holding the JSON body)."""

import os

from locust import FastHttpUser, constant, task

PATH = os.environ["TFXFER_LOAD_PATH"]
with open(os.environ["TFXFER_LOAD_BODY"], "rb") as _f:
    BODY = _f.read()


class PredictClient(FastHttpUser):
    wait_time = constant(0)

    @task
    def predict(self):
        with self.client.post(PATH, data=BODY, headers={"Content-Type": "application/json"},
                              catch_response=True) as response:
            if response.status_code != 200 or b'"predictions"' not in (response.content or b""):
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
