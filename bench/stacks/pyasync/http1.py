"""The minimal HTTP/1.1 reading the asyncio services of bench/stacks share (stdlib only)."""


async def read_message(reader):
    """Reads one HTTP/1.1 message (head + Content-Length body); returns (first line, headers)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    if n:
        await reader.readexactly(n)
    return lines[0], headers
