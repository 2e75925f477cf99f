# kspan stack bench: Ruby (CRuby, GVL) services, a thread per connection, stdlib only.
#
# usage: ruby svc.rb ROLE LISTEN_IP:PORT BACK_IP:PORT STORE_IP TRUTH_DIR
#   server (both roles): TCPServer, a Thread per accepted connection, hand-written HTTP/1.1
#     keep-alive (nginx's upstream connections are kept), head and body in one write.
#   front: /one = GET BACK /work, /two = 2 sequential, /par = 2 Threads started and joined by
#     the request's thread; each call checks a Net::HTTP keep-alive session out of a shared
#     LIFO pool (Mutex + ConditionVariable, as the connection_pool gem) and returns it; then
#     redis INCR on ONE connection shared by every thread under a Mutex (as redis-rb 4's client).
#   back: /work answers after sleep(0.001).
# Truth: one JSON line per request in TRUTH_DIR/ROLE.jsonl; tid = Thread#native_thread_id.
require "socket"
require "json"
require "net/http"

ROLE, LISTEN, BACK, STORE, TRUTH = ARGV
LHOST, LPORT = LISTEN.split(":")
BHOST, BPORT = BACK.split(":")
LOG = File.open(File.join(TRUTH, "#{ROLE}.jsonl"), File::WRONLY | File::CREAT | File::APPEND)
LOG.sync = true
LOG_LOCK = Mutex.new

def now_ns = Process.clock_gettime(Process::CLOCK_REALTIME, :nanosecond)
def tid = Thread.current.native_thread_id
def addr(a) = "#{a.ip_address}:#{a.ip_port}"

# A LIFO pool of started Net::HTTP sessions to BACK (grows on demand up to 32).
class Pool
  def initialize(max)
    @free = []
    @n = 0
    @max = max
    @lock = Mutex.new
    @cv = ConditionVariable.new
  end

  def with
    http = @lock.synchronize do
      @cv.wait(@lock) while @free.empty? && @n >= @max
      if @free.empty?
        @n += 1
        nil
      else
        @free.pop
      end
    end
    http ||= begin
      h = Net::HTTP.new(BHOST, BPORT.to_i)
      h.open_timeout = 1
      h.read_timeout = 2
      h.keep_alive_timeout = 30
      h
    end
    begin
      yield http
    ensure
      @lock.synchronize do
        @free.push(http)
        @cv.signal
      end
    end
  end
end
POOL = Pool.new(32)

def call_back(rid)
  rec = { target: "back", proto: "http", method: "GET", path: "/work", local: "", peer: BACK,
          tid: tid, start_unix_ns: now_ns }
  begin
    POOL.with do |http|
      http.start unless http.started?
      res = http.request(Net::HTTP::Get.new("/work", "X-Request-Id" => rid))
      rec[:local] = addr(http.instance_variable_get(:@socket).io.local_address)
      rec[:status] = res.code == "200" ? "ok" : "error: back: HTTP status #{res.code}"
    rescue StandardError => e
      http.finish rescue nil
      rec[:status] = "error: back: #{e.class}: #{e.message}"
    end
  end
  rec[:end_unix_ns] = now_ns
  rec
end

REDIS_LOCK = Mutex.new
$redis = nil
def redis_incr
  rec = { target: "redis", proto: "redis", command: "INCR", local: "", peer: "#{STORE}:6379", tid: tid,
          start_unix_ns: now_ns }
  REDIS_LOCK.synchronize do
    begin
      $redis ||= TCPSocket.new(STORE, 6379)
      rec[:local] = addr($redis.local_address)
      $redis.write("*2\r\n$4\r\nINCR\r\n$9\r\nkst:count\r\n")
      line = $redis.gets
      rec[:status] = line&.start_with?(":") ? "ok" : "error: redis: #{line.inspect}"
    rescue StandardError => e
      $redis&.close rescue nil
      $redis = nil
      rec[:status] = "error: redis: #{e.class}: #{e.message}"
    end
  end
  rec[:end_unix_ns] = now_ns
  rec
end

def handle(path, rid)
  calls = []
  if ROLE == "back" && path == "/work"
    sleep 0.001
  elsif ROLE == "front" && path == "/one"
    calls << call_back(rid)
  elsif ROLE == "front" && path == "/two"
    calls << call_back(rid)
    calls << call_back(rid) if calls[0][:status] == "ok"
  elsif ROLE == "front" && path == "/par"
    ts = 2.times.map { Thread.new { call_back(rid) } }
    calls = ts.map(&:value).sort_by { |c| c[:start_unix_ns] }
  else
    return [404, "error: unknown endpoint #{path}", calls]
  end
  bad = calls.find { |c| c[:status] != "ok" }
  return [502, bad[:status], calls] if bad
  if ROLE == "front"
    calls << redis_incr
    return [502, calls[-1][:status], calls] if calls[-1][:status] != "ok"
  end
  [200, "ok", calls]
end

def serve(sock)
  peer = addr(sock.remote_address)
  local = addr(sock.local_address)
  loop do
    line = sock.gets("\r\n") or break
    start = nil
    headers = {}
    while (h = sock.gets("\r\n")) && h != "\r\n"
      k, v = h.split(":", 2)
      headers[k.strip.downcase] = v.to_s.strip
    end
    break unless h
    len = headers["content-length"].to_i
    sock.read(len) if len > 0
    start = now_ns
    _method, target, = line.split(" ")
    path = target.to_s.split("?", 2)[0]
    rid = headers["x-request-id"] || ""
    code, status, calls = handle(path, rid)
    body = "#{ROLE} #{path} #{code == 200 ? 'ok' : status}\n"
    sock.write("HTTP/1.1 #{code} #{code == 200 ? 'OK' : 'Error'}\r\nContent-Type: text/plain\r\n" \
               "Content-Length: #{body.bytesize}\r\n\r\n#{body}")
    rec = { rid: rid, service: ROLE, design: "thread", pid: Process.pid, tid: tid, start_unix_ns: start,
            end_unix_ns: now_ns, peer: peer, local: local, endpoint: path, status: status, calls: calls }
    LOG_LOCK.synchronize { LOG.write(JSON.generate(rec) + "\n") }
    break if headers["connection"]&.downcase == "close"
  end
rescue StandardError => e
  warn "#{ROLE}: #{e.class}: #{e.message}" unless e.is_a?(EOFError) || e.is_a?(Errno::ECONNRESET)
ensure
  sock.close rescue nil
end

server = TCPServer.new(LHOST, LPORT.to_i)
server.listen(256)
warn "#{ROLE} listening on #{LISTEN}"
Signal.trap("TERM") { exit!(0) }
loop do
  s = server.accept
  s.setsockopt(Socket::IPPROTO_TCP, Socket::TCP_NODELAY, 1)
  Thread.new(s) { |c| serve(c) }
end
