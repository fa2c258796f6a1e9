"""Drives ccload with the official anthropic SDK; prints one JSON object of results.

Environment: CCLOAD_URL (base URL), CCLOAD_TOKEN (a ccload client token), MODEL.
Exit codes: 0 done, 3 the SDK is not installed, 4 an unexpected error.
"""
import json
import os
import sys

try:
    import anthropic
except ImportError as e:  # CI installs it; the Swift test fails on this.
    print(json.dumps({"error": "cannot import anthropic: %s" % e}))
    sys.exit(3)


def usage(u):
    return {
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cache_read_input_tokens": getattr(u, "cache_read_input_tokens", None),
        "cache_creation_input_tokens": getattr(u, "cache_creation_input_tokens", None),
    }


def main():
    client = anthropic.Anthropic(base_url=os.environ["CCLOAD_URL"], api_key=os.environ["CCLOAD_TOKEN"],
                                 max_retries=0, timeout=20.0)
    model = os.environ["MODEL"]
    messages = [{"role": "user", "content": "Say hello"}]
    out = {"sdk_version": anthropic.__version__}

    r = client.messages.create(model=model, max_tokens=64, messages=messages)
    out["create"] = {"type": r.type, "text": r.content[0].text, "stop_reason": r.stop_reason, "usage": usage(r.usage)}

    with client.messages.stream(model=model, max_tokens=64, messages=messages,
                                metadata={"user_id": "sdk-session-1"}) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    out["stream"] = {"text": text, "final_text": final.content[0].text, "stop_reason": final.stop_reason,
                     "usage": usage(final.usage)}

    # A stream that breaks after the commit point: the SDK must raise, not end quietly.
    try:
        with client.messages.stream(model=model, max_tokens=64, messages=messages,
                                    extra_headers={"x-mock-cut-after-events": "2"}) as s:
            got = "".join(s.text_stream)
        out["broken_stream"] = {"raised": False, "text": got}
    except anthropic.APIError as e:
        out["broken_stream"] = {"raised": True, "class": type(e).__name__, "message": str(e)[:300]}

    # No channel serves this model: a 503 the SDK reads as an API error.
    try:
        client.messages.create(model="no-such-model-x", max_tokens=8, messages=messages)
        out["unserved"] = {"raised": False}
    except anthropic.APIStatusError as e:
        out["unserved"] = {"raised": True, "status": e.status_code, "message": str(e)[:300]}

    # A wrong token is refused with 401 (AuthenticationError).
    bad = anthropic.Anthropic(base_url=os.environ["CCLOAD_URL"], api_key="not-a-ccload-token", max_retries=0, timeout=20.0)
    try:
        bad.messages.create(model=model, max_tokens=8, messages=messages)
        out["bad_token"] = {"raised": False}
    except anthropic.AuthenticationError as e:
        out["bad_token"] = {"raised": True, "status": e.status_code}

    out["models"] = sorted(m.id for m in client.models.list())
    print(json.dumps(out))


if __name__ == "__main__":
    try:
        main()
    except Exception as e:  # report, and let the Swift test show it
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        sys.exit(4)
