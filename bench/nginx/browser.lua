-- wrk script of bench/nginx/run.sh: the headers of a browser's request
-- to a traced site (15 of them, W3C trace context and baggage among
-- them), the same on every request.
-- luacheck: globals wrk
local h = wrk.headers
h["Host"] = "shop.example.com"
h["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 "
    .. "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
h["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,"
    .. "image/avif,image/webp,*/*;q=0.8"
h["Accept-Language"] = "en-GB,en;q=0.9,de;q=0.8"
h["Accept-Encoding"] = "gzip, deflate, br"
h["Referer"] = "https://shop.example.com/catalog/shoes?page=2"
h["Cookie"] = "session=3f2a9c1e7b6d4058a1c2e3f4a5b6c7d8; theme=dark; "
    .. "consent=analytics%3Dyes%26ads%3Dno; _ga=GA1.2.1234567890.1700000000"
h["Cache-Control"] = "max-age=0"
h["Upgrade-Insecure-Requests"] = "1"
h["Sec-Fetch-Site"] = "same-origin"
h["Sec-Fetch-Mode"] = "navigate"
h["Sec-Fetch-Dest"] = "document"
h["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
h["tracestate"] = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
h["baggage"] = "userId=alice,serverNode=DF%2028,isProduction=false"
