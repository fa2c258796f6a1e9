"""Drives ccload with the official openai SDK; prints one JSON object of results.

Environment: CCLOAD_URL (base URL, without /v1), CCLOAD_TOKEN (a ccload client token),
CHAT_MODEL, RESPONSES_MODEL.
Exit codes: 0 done, 3 the SDK is not installed, 4 an unexpected error.
"""
import json
import os
import sys

try:
    import openai
except ImportError as e:  # CI installs it; the Swift test fails on this.
    print(json.dumps({"error": "cannot import openai: %s" % e}))
    sys.exit(3)


def main():
    client = openai.OpenAI(base_url=os.environ["CCLOAD_URL"] + "/v1", api_key=os.environ["CCLOAD_TOKEN"],
                           max_retries=0, timeout=20.0)
    chat_model = os.environ["CHAT_MODEL"]
    messages = [{"role": "user", "content": "Say hello"}]
    out = {"sdk_version": openai.__version__}

    r = client.chat.completions.create(model=chat_model, messages=messages)
    out["chat"] = {"object": r.object, "text": r.choices[0].message.content, "finish_reason": r.choices[0].finish_reason,
                   "usage": {"prompt_tokens": r.usage.prompt_tokens, "completion_tokens": r.usage.completion_tokens,
                             "cached_tokens": r.usage.prompt_tokens_details.cached_tokens}}

    text, finish, usage = "", None, None
    for chunk in client.chat.completions.create(model=chat_model, messages=messages, stream=True,
                                                stream_options={"include_usage": True}):
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
        if chunk.usage is not None:
            usage = {"prompt_tokens": chunk.usage.prompt_tokens, "completion_tokens": chunk.usage.completion_tokens}
    out["chat_stream"] = {"text": text, "finish_reason": finish, "usage": usage}

    # A stream that breaks after the commit point: the SDK must raise on the error chunk.
    try:
        got = ""
        for chunk in client.chat.completions.create(model=chat_model, messages=messages, stream=True,
                                                    extra_headers={"x-mock-cut-after-events": "1"}):
            for c in chunk.choices:
                got += c.delta.content or ""
        out["broken_stream"] = {"raised": False, "text": got}
    except openai.APIError as e:
        out["broken_stream"] = {"raised": True, "class": type(e).__name__, "message": str(e)[:300]}

    if hasattr(client, "responses"):
        responses_model = os.environ["RESPONSES_MODEL"]
        r = client.responses.create(model=responses_model, input="Say hello")
        out["responses"] = {"status": r.status, "text": r.output_text,
                            "usage": {"input_tokens": r.usage.input_tokens, "output_tokens": r.usage.output_tokens}}
        deltas, completed = "", None
        for event in client.responses.create(model=responses_model, input="Say hello", stream=True):
            if event.type == "response.output_text.delta":
                deltas += event.delta
            elif event.type == "response.completed":
                completed = {"status": event.response.status, "output_tokens": event.response.usage.output_tokens}
        out["responses_stream"] = {"text": deltas, "completed": completed}

    try:
        openai.OpenAI(base_url=os.environ["CCLOAD_URL"] + "/v1", api_key="not-a-ccload-token", max_retries=0,
                      timeout=20.0).chat.completions.create(model=chat_model, messages=messages)
        out["bad_token"] = {"raised": False}
    except openai.AuthenticationError as e:
        out["bad_token"] = {"raised": True, "status": e.status_code}

    out["models"] = sorted(m.id for m in client.models.list())
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, and let the Swift test show it
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        sys.exit(4)
