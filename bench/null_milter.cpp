// qm-null-milter: a libmilter milter that does nothing — CONTINUE at every
// stage, with a DATA callback — so that benchmarks can measure the physical
// limit of libmilter (and of an MTA talking to it) on this machine.
//
//   --stages all          (default) every callback registered, no negotiate
//                         callback: the MTA sends every stage (HELO, each
//                         header, EOH, body chunks).
//   --stages quotamilter  negotiate exactly the stages quotamilter asks for
//                         (connect, MAIL, RCPT, DATA, end of message; no HELO,
//                         headers, EOH, body): the fair floor to compare
//                         quotamilter with, same round trips, zero work.
//   --stages quotamilter-bytes  quotamilter's stages when its rules hold a
//                         `bytes` quota: headers and body too (the floor for
//                         bench/rules/hudedu-bench.json)
//   --no-reply-content    also negotiate SMFIP_NR_HDR and SMFIP_NR_BODY and
//                         answer SMFIS_NOREPLY to headers and body chunks: how
//                         much a byte-counting milter would save by not
//                         answering them (one round trip per header)
//   --add-header          add "X-Null-Milter: yes" at end of message (two
//                         packets in a row: the 40 ms trap's second half).
//   --no-data             (with --stages quotamilter) also negotiate DATA away:
//                         the configuration that falls into the 40 ms trap
//                         over TCP, to prove the latency benchmark catches it.
//   --no-nodelay          leave Nagle on for accepted TCP sockets (to show
//                         the trap); the default sets TCP_NODELAY like
//                         quotamilter does.
//   --redis HOST:PORT     with --round-trips-at: the Redis server to call.
//   --round-trips-at STAGES  comma-separated, of mail,rcpt,eom: at each listed
//                         stage the callback makes one synchronous Redis round
//                         trip before answering CONTINUE — an EVALSHA of a
//                         trivial Lua script (HINCRBY on a per-sender hash,
//                         by 0 before end of message, by 1 at it) loaded once
//                         at start. "mail,eom" is what quotamilter does per
//                         message with bench/rules/sender-rate.json (check at
//                         MAIL FROM, charge at end of message), with none of
//                         its work: the floor of "libmilter + 2 Redis round
//                         trips per message". Connections come from a small
//                         mutex-guarded pool, opened as needed (one per
//                         concurrent callback, like quotamilter's store pool);
//                         hiredis sets TCP_NODELAY and blocks: one write, one
//                         read per call, as store/redis_pool.cpp does.
//
// Linked against the static libmilter.a by path so -Wl,--wrap=accept reaches
// libmilter's own accept() (milter-traps.md).

#include <hiredis/hiredis.h>
#include <libmilter/mfapi.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <memory>
#include <mutex>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace {

bool g_set_nodelay = true;
bool g_add_header = false;
bool g_skip_data = false;
bool g_with_content = false;   // headers and body negotiated (stages quotamilter-bytes)
bool g_noreply_content = false;

// --- Redis round trips (--redis, --round-trips-at) ----------------------

// The script Redis runs per round trip: comparable to a tiny quota script
// (one hash read-modify-write), nothing more.
constexpr const char* k_script = "return redis.call('HINCRBY', KEYS[1], 'n', ARGV[1])";

struct ContextFree {
    void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;
struct ReplyFree {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

std::string g_redis_host;
int g_redis_port = 0;
std::string g_script_sha;
bool g_trip_at_mail = false;
bool g_trip_at_rcpt = false;
bool g_trip_at_eom = false;
std::atomic<unsigned long> g_redis_errors{0};

ContextPtr redis_connect() {
    const timeval connect_timeout{2, 0};
    ContextPtr c(redisConnectWithTimeout(g_redis_host.c_str(), g_redis_port, connect_timeout));
    if (!c || c->err) return nullptr;
    // A socket timeout once per connection (quotamilter sets it only when the
    // time left changes): no syscall per call for it.
    const timeval call_timeout{2, 0};
    if (redisSetTimeout(c.get(), call_timeout) != REDIS_OK) return nullptr;
    return c;
}

// Idle connections; a callback takes one (or opens one when none is idle)
// and gives it back when its call succeeded. At most one per concurrent
// callback is ever open.
class ConnectionPool {
public:
    ContextPtr take() {
        {
            std::lock_guard lock(mutex_);
            if (!idle_.empty()) {
                ContextPtr c = std::move(idle_.back());
                idle_.pop_back();
                return c;
            }
        }
        return redis_connect();
    }
    void give_back(ContextPtr c) {
        std::lock_guard lock(mutex_);
        idle_.push_back(std::move(c));
    }

private:
    std::mutex mutex_;
    std::vector<ContextPtr> idle_;
};

ConnectionPool g_pool;

void note_redis_error(const char* why) {
    // The first few are logged; the count tells the benchmark a run is void.
    const unsigned long n = ++g_redis_errors;
    if (n <= 5 || n % 1000 == 0) std::fprintf(stderr, "qm-null-milter: redis error #%lu: %s\n", n, why);
}

// One round trip: EVALSHA script 1 KEY INCREMENT, one write, one blocking read.
void redis_round_trip(SMFICTX* ctx, const char* increment) {
    const char* sender = smfi_getsymval(ctx, const_cast<char*>("{mail_addr}"));
    std::string key = "null2rt:";
    key += sender ? sender : "-";
    ContextPtr c = g_pool.take();
    if (!c) {
        note_redis_error("cannot connect");
        return;
    }
    const char* argv[] = {"EVALSHA", g_script_sha.c_str(), "1", key.c_str(), increment};
    const size_t lengths[] = {7, g_script_sha.size(), 1, key.size(), std::strlen(increment)};
    ReplyPtr reply(static_cast<redisReply*>(redisCommandArgv(c.get(), 5, argv, lengths)));
    if (!reply) {
        note_redis_error(c->errstr);
        return;  // the context is dropped, never reused
    }
    if (reply->type != REDIS_REPLY_INTEGER) note_redis_error(reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    g_pool.give_back(std::move(c));
}

// SCRIPT LOAD once at start; false (with a message) if Redis is unusable.
bool load_script() {
    ContextPtr c = redis_connect();
    if (!c) {
        std::fprintf(stderr, "qm-null-milter: cannot connect to redis %s:%d\n", g_redis_host.c_str(), g_redis_port);
        return false;
    }
    ReplyPtr reply(static_cast<redisReply*>(redisCommand(c.get(), "SCRIPT LOAD %s", k_script)));
    if (!reply || reply->type != REDIS_REPLY_STRING) {
        std::fprintf(stderr, "qm-null-milter: SCRIPT LOAD failed: %s\n",
                     !reply ? c->errstr : reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        return false;
    }
    g_script_sha.assign(reply->str, reply->len);
    g_pool.give_back(std::move(c));
    return true;
}

}  // namespace

extern "C" int __real_accept(int fd, struct sockaddr* address, socklen_t* length);
extern "C" int __wrap_accept(int fd, struct sockaddr* address, socklen_t* length) {
    const int client = __real_accept(fd, address, length);
    if (client >= 0 && g_set_nodelay) {
        sockaddr_storage local{};
        socklen_t local_length = sizeof local;
        if (::getsockname(client, reinterpret_cast<sockaddr*>(&local), &local_length) == 0 &&
            (local.ss_family == AF_INET || local.ss_family == AF_INET6)) {
            int on = 1;
            (void)::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        }
    }
    return client;
}

namespace {

sfsistat continue_connect(SMFICTX*, char*, _SOCK_ADDR*) { return SMFIS_CONTINUE; }
sfsistat continue_helo(SMFICTX*, char*) { return SMFIS_CONTINUE; }
sfsistat mail_from(SMFICTX* ctx, char**) {
    if (g_trip_at_mail) redis_round_trip(ctx, "0");
    return SMFIS_CONTINUE;
}
sfsistat rcpt_to(SMFICTX* ctx, char**) {
    if (g_trip_at_rcpt) redis_round_trip(ctx, "0");
    return SMFIS_CONTINUE;
}
sfsistat continue_header(SMFICTX*, char*, char*) { return g_noreply_content ? SMFIS_NOREPLY : SMFIS_CONTINUE; }
sfsistat continue_plain(SMFICTX*) { return SMFIS_CONTINUE; }
sfsistat continue_body(SMFICTX*, unsigned char*, size_t) { return g_noreply_content ? SMFIS_NOREPLY : SMFIS_CONTINUE; }

sfsistat end_of_message(SMFICTX* ctx) {
    if (g_trip_at_eom) redis_round_trip(ctx, "1");
    if (g_add_header) (void)smfi_addheader(ctx, const_cast<char*>("X-Null-Milter"), const_cast<char*>("yes"));
    return SMFIS_CONTINUE;
}

// The same stages quotamilter negotiates (milter/negotiation.cpp with rules
// that need neither headers nor body).
sfsistat negotiate_like_quotamilter(SMFICTX*, unsigned long offered_actions, unsigned long offered_steps,
                                    unsigned long, unsigned long, unsigned long* actions, unsigned long* steps,
                                    unsigned long* reserved2, unsigned long* reserved3) {
    *actions = (g_add_header ? SMFIF_ADDHDRS : 0) & offered_actions;
    unsigned long unwanted = SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NOEOH;
    if (!g_with_content) unwanted |= SMFIP_NOBODY | SMFIP_NOHDRS;
    if (g_skip_data) unwanted |= SMFIP_NODATA;
    // No-reply flags are only valid when the MTA offers them.
    if (g_noreply_content) unwanted |= (SMFIP_NR_HDR | SMFIP_NR_BODY) & offered_steps;
    *steps = unwanted & offered_steps;
    *reserved2 = 0;
    *reserved3 = 0;
    return SMFIS_CONTINUE;
}

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "qm-null-milter: %s\n"
                 "usage: qm-null-milter --socket inet:PORT@HOST|unix:/path [--stages all|quotamilter|quotamilter-bytes]\n"
                 "       [--no-reply-content] [--add-header] [--no-data] [--no-nodelay] [--backlog N] [--socket-mode OCTAL]\n"
                 "       [--redis HOST:PORT --round-trips-at mail,rcpt,eom]\n",
                 why);
    std::exit(64);
}

}  // namespace

int main(int argc, char** argv) {
    std::string socket_spec;
    bool like_quotamilter = false;
    int backlog = 128;
    mode_t socket_mode = 0666;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage((arg + " needs a value").c_str());
            return argv[++i];
        };
        if (arg == "--socket") socket_spec = value();
        else if (arg == "--stages") {
            const std::string stages = value();
            if (stages == "quotamilter") like_quotamilter = true;
            else if (stages == "quotamilter-bytes") like_quotamilter = g_with_content = true;
            else if (stages != "all") usage("--stages wants all, quotamilter or quotamilter-bytes");
        } else if (arg == "--add-header") g_add_header = true;
        else if (arg == "--no-data") g_skip_data = true;
        else if (arg == "--no-reply-content") g_noreply_content = true;
        else if (arg == "--no-nodelay") g_set_nodelay = false;
        else if (arg == "--backlog") backlog = std::atoi(value().c_str());
        else if (arg == "--socket-mode") socket_mode = static_cast<mode_t>(std::strtol(value().c_str(), nullptr, 8));
        else if (arg == "--redis") {
            const std::string address = value();
            const auto colon = address.rfind(':');
            if (colon == std::string::npos || colon == 0) usage("--redis wants HOST:PORT");
            g_redis_host = address.substr(0, colon);
            g_redis_port = std::atoi(address.c_str() + colon + 1);
            if (g_redis_port <= 0 || g_redis_port > 65535) usage("--redis wants HOST:PORT");
        } else if (arg == "--round-trips-at") {
            const std::string stages = value() + ",";
            for (std::size_t start = 0, comma; (comma = stages.find(',', start)) != std::string::npos; start = comma + 1) {
                const std::string stage = stages.substr(start, comma - start);
                if (stage == "mail") g_trip_at_mail = true;
                else if (stage == "rcpt") g_trip_at_rcpt = true;
                else if (stage == "eom") g_trip_at_eom = true;
                else usage("--round-trips-at wants a comma-separated list of mail, rcpt, eom");
            }
        } else usage(("unknown option " + arg).c_str());
    }
    const bool round_trips = g_trip_at_mail || g_trip_at_rcpt || g_trip_at_eom;
    if (round_trips != !g_redis_host.empty()) usage("--redis and --round-trips-at go together");
    if (round_trips) {
        // A write to a connection Redis closed must not kill the process
        // (quotamilter serve ignores SIGPIPE too).
        std::signal(SIGPIPE, SIG_IGN);
        if (!load_script()) return 1;
    }
    if (socket_spec.empty()) usage("--socket is required");
    if ((g_skip_data || g_noreply_content) && !like_quotamilter)
        usage("--no-data and --no-reply-content need --stages quotamilter or quotamilter-bytes");

    smfiDesc description{};
    description.xxfi_name = const_cast<char*>("qm-null-milter");
    description.xxfi_version = SMFI_VERSION;
    description.xxfi_flags = g_add_header ? SMFIF_ADDHDRS : SMFIF_NONE;
    description.xxfi_connect = continue_connect;
    description.xxfi_helo = continue_helo;
    description.xxfi_envfrom = mail_from;
    description.xxfi_envrcpt = rcpt_to;
    description.xxfi_header = continue_header;
    description.xxfi_eoh = continue_plain;
    description.xxfi_body = continue_body;
    description.xxfi_eom = end_of_message;
    description.xxfi_abort = continue_plain;
    description.xxfi_close = continue_plain;
    description.xxfi_unknown = nullptr;
    description.xxfi_data = continue_plain;
    description.xxfi_negotiate = like_quotamilter ? negotiate_like_quotamilter : nullptr;

    if (smfi_register(description) == MI_FAILURE) {
        std::fprintf(stderr, "qm-null-milter: smfi_register failed\n");
        return 1;
    }
    if (smfi_setconn(const_cast<char*>(socket_spec.c_str())) == MI_FAILURE || smfi_setbacklog(backlog) == MI_FAILURE) {
        std::fprintf(stderr, "qm-null-milter: bad socket %s\n", socket_spec.c_str());
        return 1;
    }
    // Unix sockets: the postfix user must be able to connect (mode from the umask).
    const mode_t previous = ::umask(static_cast<mode_t>(~socket_mode & 0777));
    const int opened = smfi_opensocket(true);
    ::umask(previous);
    if (opened == MI_FAILURE) {
        std::fprintf(stderr, "qm-null-milter: cannot listen on %s\n", socket_spec.c_str());
        return 1;
    }
    std::fprintf(stderr, "qm-null-milter: listening on %s (stages %s%s%s%s)%s%s%s%s\n", socket_spec.c_str(),
                 g_with_content ? "quotamilter-bytes" : like_quotamilter ? "quotamilter" : "all", g_skip_data ? " without DATA" : "",
                 g_add_header ? ", add-header" : "", g_set_nodelay ? "" : ", Nagle on",
                 round_trips ? ", a Redis round trip at" : "", g_trip_at_mail ? " MAIL" : "",
                 g_trip_at_rcpt ? " RCPT" : "", g_trip_at_eom ? " EOM" : "");
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
