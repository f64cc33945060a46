// qm-milter-load: a milter-protocol load generator. It plays the MTA side of
// the milter wire protocol (version 6, as Postfix and sendmail speak it):
// OPTNEG, macros, CONNECT, HELO, MAIL, RCPT, DATA, HEADER, EOH, BODY, BODYEOB,
// QUIT, over K concurrent connections until M messages are done, and reports
// messages/s and per-stage latency p50/p99/p999.
//
// One thread, one epoll: the generator must leave the CPU to the milter under
// test (2-core machines). Each connection is a small state machine over a
// list of protocol steps; packets that expect no reply (macros, negotiated
// "no reply" stages) are coalesced with the next step into one write, so
// Nagle never delays us and our own cost per message stays a few syscalls.
//
// Unlike Postfix, a stage the milter negotiated away is skipped together with
// its macro packet (Postfix still sends the macros: docs/MILTER-TRAPS.md). The
// Postfix benchmarks (scripts/bench-postfix.sh) cover that path.

#include "bench/latency_stats.h"

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <map>
#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace quotamilter::bench {
namespace {

using Clock = std::chrono::steady_clock;

double microseconds_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::micro>(to - from).count();
}

// ---------------------------------------------------------------- options

struct SenderDistribution {
    enum class Kind { one, uniform, zipf, cycle } kind = Kind::one;
    std::size_t count = 1;   // distinct senders (uniform, zipf)
    double exponent = 1.0;   // zipf's s
};

struct Options {
    std::string socket;            // inet:PORT@HOST, inet:HOST:PORT, unix:/path or /path
    int connections = 8;           // K concurrent milter connections
    long messages = 10000;         // M messages in total
    int messages_per_connection = 1;  // like smtp-source: one message per session
    int recipients = 1;
    std::size_t body_bytes = 1024;
    int headers = 5;
    SenderDistribution senders;
    std::string sender_domain = "hudedu.net";
    std::string recipient_domain = "example.com";
    std::string sender_local = "";  // set: every sender is exactly this local part ("one")
    double time_limit_seconds = 300;
    bool tcp_nodelay = true;
    bool send_auth_macro = false;   // {auth_authen} = sender's local part
    std::uint64_t seed = 1;
    long max_errors = 50;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "qm-milter-load: %s\n"
                 "usage: qm-milter-load --socket inet:PORT@HOST|unix:/path [--connections K] [--messages M]\n"
                 "       [--per-connection N] [--recipients R] [--body-bytes B] [--headers H]\n"
                 "       [--senders one|uniform:N|zipf:N[:S]|cycle:N] [--sender-domain D] [--recipient-domain D]\n"
                 "       [--sender LOCALPART] [--auth] [--no-nodelay] [--time-limit SECONDS] [--seed N]\n"
                 "Prints a table and one machine-readable line starting with RESULT.\n",
                 why);
    std::exit(64);
}

long parse_long(const std::string& text, const char* what, long minimum) {
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (errno != 0 || end == text.c_str() || *end != '\0' || value < minimum)
        usage((std::string("bad value for ") + what + ": " + text).c_str());
    return value;
}

SenderDistribution parse_distribution(const std::string& text) {
    SenderDistribution d;
    if (text == "one") return d;
    const auto colon = text.find(':');
    if (colon == std::string::npos) usage("--senders wants one, uniform:N, zipf:N[:S] or cycle:N");
    const std::string kind = text.substr(0, colon);
    std::string rest = text.substr(colon + 1);
    if (kind == "cycle") {  // s0, s1, ... s(N-1), s0, ...: exactly N distinct senders
        d.kind = SenderDistribution::Kind::cycle;
        d.count = static_cast<std::size_t>(parse_long(rest, "--senders cycle:N", 1));
    } else if (kind == "uniform") {
        d.kind = SenderDistribution::Kind::uniform;
        d.count = static_cast<std::size_t>(parse_long(rest, "--senders uniform:N", 1));
    } else if (kind == "zipf") {
        d.kind = SenderDistribution::Kind::zipf;
        const auto second = rest.find(':');
        if (second != std::string::npos) {
            d.exponent = std::strtod(rest.substr(second + 1).c_str(), nullptr);
            if (!(d.exponent > 0.0)) usage("zipf exponent must be > 0");
            rest = rest.substr(0, second);
        }
        d.count = static_cast<std::size_t>(parse_long(rest, "--senders zipf:N", 1));
    } else {
        usage("--senders wants one, uniform:N, zipf:N[:S] or cycle:N");
    }
    return d;
}

Options parse_options(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage((arg + " needs a value").c_str());
            return argv[++i];
        };
        if (arg == "--socket") o.socket = value();
        else if (arg == "--connections") o.connections = static_cast<int>(parse_long(value(), "--connections", 1));
        else if (arg == "--messages") o.messages = parse_long(value(), "--messages", 1);
        else if (arg == "--per-connection")
            o.messages_per_connection = static_cast<int>(parse_long(value(), "--per-connection", 1));
        else if (arg == "--recipients") o.recipients = static_cast<int>(parse_long(value(), "--recipients", 1));
        else if (arg == "--body-bytes") o.body_bytes = static_cast<std::size_t>(parse_long(value(), "--body-bytes", 0));
        else if (arg == "--headers") o.headers = static_cast<int>(parse_long(value(), "--headers", 0));
        else if (arg == "--senders") o.senders = parse_distribution(value());
        else if (arg == "--sender-domain") o.sender_domain = value();
        else if (arg == "--recipient-domain") o.recipient_domain = value();
        else if (arg == "--sender") o.sender_local = value();
        else if (arg == "--auth") o.send_auth_macro = true;
        else if (arg == "--no-nodelay") o.tcp_nodelay = false;
        else if (arg == "--time-limit") o.time_limit_seconds = static_cast<double>(parse_long(value(), "--time-limit", 1));
        else if (arg == "--seed") o.seed = static_cast<std::uint64_t>(parse_long(value(), "--seed", 0));
        else if (arg == "--max-errors") o.max_errors = parse_long(value(), "--max-errors", 0);
        else if (arg == "-h" || arg == "--help") usage("help");
        else usage(("unknown option " + arg).c_str());
    }
    if (o.socket.empty()) usage("--socket is required");
    if (o.connections > o.messages) o.connections = static_cast<int>(o.messages);
    return o;
}

// ---------------------------------------------------------------- senders

// Draws sender indexes: always 0 (one), uniform over N, or Zipf(N, s) by an
// inverse-CDF table (rank 1 the most frequent sender).
class SenderPicker {
public:
    SenderPicker(const SenderDistribution& d, std::uint64_t seed) : d_(d), random_(seed) {
        if (d.kind == SenderDistribution::Kind::zipf) {
            cumulative_.reserve(d.count);
            double sum = 0.0;
            for (std::size_t k = 1; k <= d.count; ++k) {
                sum += 1.0 / std::pow(static_cast<double>(k), d.exponent);
                cumulative_.push_back(sum);
            }
            for (double& c : cumulative_) c /= sum;
        }
    }
    std::size_t next() {
        switch (d_.kind) {
            case SenderDistribution::Kind::one: return 0;
            case SenderDistribution::Kind::cycle: return drawn_++ % d_.count;
            case SenderDistribution::Kind::uniform:
                return std::uniform_int_distribution<std::size_t>(0, d_.count - 1)(random_);
            case SenderDistribution::Kind::zipf: {
                const double u = std::uniform_real_distribution<double>(0.0, 1.0)(random_);
                auto it = std::lower_bound(cumulative_.begin(), cumulative_.end(), u);
                if (it == cumulative_.end()) --it;
                return static_cast<std::size_t>(it - cumulative_.begin());
            }
        }
        return 0;
    }

private:
    SenderDistribution d_;
    std::mt19937_64 random_;
    std::vector<double> cumulative_;
    std::size_t drawn_ = 0;
};

// ---------------------------------------------------------------- packets

enum class Stage { optneg, connect, helo, mail, rcpt, data, header, eoh, body, eom, count };
constexpr const char* kStageNames[] = {"optneg", "connect", "helo", "mail", "rcpt",
                                       "data",   "header",  "eoh",  "body", "eom"};

void append_u32(std::string& out, std::uint32_t value) {
    const std::uint32_t net = htonl(value);
    out.append(reinterpret_cast<const char*>(&net), 4);
}

void append_packet(std::string& out, char command, std::string_view payload) {
    append_u32(out, static_cast<std::uint32_t>(payload.size() + 1));
    out.push_back(command);
    out.append(payload);
}

// Concatenation by append: g++ 12 warns falsely (-Wrestrict, PR 105651) on
// "literal" + std::string&&.
std::string concat(std::initializer_list<std::string_view> parts) {
    std::string out;
    for (auto part : parts) out.append(part);
    return out;
}

// Payload of NUL-terminated strings.
std::string strings(std::initializer_list<std::string_view> parts) {
    std::string payload;
    for (auto part : parts) {
        payload.append(part);
        payload.push_back('\0');
    }
    return payload;
}

void append_macros(std::string& out, char for_command, std::initializer_list<std::string_view> names_and_values) {
    std::string payload(1, for_command);
    for (auto part : names_and_values) {
        payload.append(part);
        payload.push_back('\0');
    }
    append_packet(out, SMFIC_MACRO, payload);
}

// One protocol step: the bytes to write and, when the milter answers, which
// stage the answer belongs to.
struct Step {
    Stage stage;
    std::string bytes;
    bool expects_reply;
    bool starts_message = false;  // first step of a message (MAIL)
    bool ends_message = false;    // BODYEOB
    bool is_quit = false;         // QUIT: close once written
};

Step quit_step() {
    Step quit{Stage::optneg, {}, false};
    append_packet(quit.bytes, SMFIC_QUIT, {});
    quit.is_quit = true;
    return quit;
}

// ---------------------------------------------------------------- results

struct Results {
    LatencySamples stage_latency[static_cast<int>(Stage::count)];
    LatencySamples message_latency;  // MAIL written -> end-of-message answer
    long messages_done = 0;          // end-of-message answered or refused earlier
    long accepted = 0, rejected = 0, tempfailed = 0, discarded = 0, other = 0;
    long modifications = 0;          // add/insert/change header, quarantine, ...
    long connections_opened = 0;
    long errors = 0;
    std::map<char, long> refusal_stage_counts;
};

// ---------------------------------------------------------------- connections

struct Address {
    int family = AF_INET;
    sockaddr_storage storage{};
    socklen_t length = 0;
};

Address parse_socket(const std::string& spec) {
    Address a;
    auto inet = [&](const std::string& host, const std::string& port) {
        auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
        in->sin_family = AF_INET;
        in->sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
        if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) != 1)
            throw std::runtime_error("not an IPv4 address: " + host);
        a.family = AF_INET;
        a.length = sizeof(sockaddr_in);
    };
    std::string rest;
    if (spec.rfind("inet:", 0) == 0) {
        rest = spec.substr(5);
        const auto at = rest.find('@');
        if (at != std::string::npos) {
            inet(rest.substr(at + 1), rest.substr(0, at));  // libmilter: inet:PORT@HOST
        } else {
            const auto colon = rest.rfind(':');  // Postfix: inet:HOST:PORT
            if (colon == std::string::npos) throw std::runtime_error("bad inet socket " + spec);
            inet(rest.substr(0, colon), rest.substr(colon + 1));
        }
        return a;
    }
    rest = spec.rfind("unix:", 0) == 0 ? spec.substr(5) : spec.rfind("local:", 0) == 0 ? spec.substr(6) : spec;
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
    un->sun_family = AF_UNIX;
    if (rest.size() >= sizeof un->sun_path) throw std::runtime_error("unix socket path too long");
    std::memcpy(un->sun_path, rest.c_str(), rest.size() + 1);
    a.family = AF_UNIX;
    a.length = sizeof(sockaddr_un);
    return a;
}

class FileDescriptor {
public:
    explicit FileDescriptor(int fd = -1) : fd_(fd) {}
    FileDescriptor(FileDescriptor&& other) noexcept : fd_(other.release()) {}
    FileDescriptor& operator=(FileDescriptor&& other) noexcept {
        if (this != &other) reset(other.release());
        return *this;
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    ~FileDescriptor() { reset(); }
    int get() const { return fd_; }
    int release() {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

// What the milter answered in OPTNEG.
struct Negotiated {
    std::uint32_t actions = 0;
    std::uint32_t protocol = 0;
    bool skips(std::uint32_t no_flag) const { return (protocol & no_flag) != 0; }
};

class LoadGenerator;

struct Connection {
    FileDescriptor fd;
    std::deque<Step> steps;        // what is still to be written, in order
    std::string out;               // bytes being written
    std::size_t out_offset = 0;
    std::string in;                // bytes read, not yet parsed
    bool awaiting_reply = false;
    Stage awaited_stage = Stage::optneg;
    bool awaited_ends_message = false;
    Clock::time_point sent_at{};
    Clock::time_point message_started_at{};
    Negotiated negotiated;
    bool negotiated_yet = false;
    int messages_left = 0;         // messages this connection still has to send
    int recipients_accepted = 0;   // in the current message
    bool closing = false;          // QUIT written: close when out is flushed
    bool dead = false;             // closed: freed after the current batch of events
};

class LoadGenerator {
public:
    explicit LoadGenerator(Options options)
        : options_(std::move(options)), address_(parse_socket(options_.socket)),
          senders_(options_.senders, options_.seed) {
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (epoll_.get() < 0) throw std::runtime_error("epoll_create1 failed");
        body_ = make_body(options_.body_bytes);
    }

    int run() {
        started_at_ = Clock::now();
        const auto deadline = started_at_ + std::chrono::duration_cast<Clock::duration>(
                                                std::chrono::duration<double>(options_.time_limit_seconds));
        for (int i = 0; i < options_.connections; ++i) open_connection();
        std::vector<epoll_event> events(256);
        bool timed_out = false;
        while (!connections_.empty()) {
            if (Clock::now() > deadline) {
                timed_out = true;
                break;
            }
            if (results_.errors > options_.max_errors) {
                std::fprintf(stderr, "qm-milter-load: too many errors (%ld), stopping\n", results_.errors);
                break;
            }
            const int ready = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), 1000);
            if (ready < 0) {
                if (errno == EINTR) continue;
                throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
            }
            for (int i = 0; i < ready; ++i) {
                const int fd = events[static_cast<std::size_t>(i)].data.fd;
                auto it = connections_.find(fd);
                if (it == connections_.end() || it->second->dead) continue;
                handle_event(*it->second, events[static_cast<std::size_t>(i)].events);
            }
            reap_dead_connections();
        }
        finished_at_ = Clock::now();
        connections_.clear();
        report(timed_out);
        if (timed_out) return 2;
        if (results_.errors > 0 || results_.messages_done < options_.messages) return 1;
        return 0;
    }

private:
    static std::string make_body(std::size_t bytes) {
        std::string body;
        body.reserve(bytes);
        const std::string line = "The quick brown fox jumps over the lazy dog, benchmark body line.\r\n";
        while (body.size() + line.size() <= bytes) body += line;
        while (body.size() < bytes) body.push_back('x');
        return body;
    }

    std::string queue_id() {
        char text[16];
        std::snprintf(text, sizeof text, "B%011lX", ++queue_id_counter_);
        return text;
    }

    // ---- connection lifecycle

    void open_connection() {
        if (messages_assigned_ >= options_.messages) return;
        FileDescriptor fd(::socket(address_.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (fd.get() < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
        if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address_.storage), address_.length) != 0) {
            ++results_.errors;
            if (results_.errors <= 3)
                std::fprintf(stderr, "qm-milter-load: connect %s: %s\n", options_.socket.c_str(), std::strerror(errno));
            if (results_.errors > options_.max_errors) return;
            ::usleep(10000);
            return open_connection();  // bounded by max_errors
        }
        if (address_.family == AF_INET && options_.tcp_nodelay) {
            int on = 1;
            (void)::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        }
        ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK);
        auto connection = std::make_unique<Connection>();
        const long remaining = options_.messages - messages_assigned_;
        connection->messages_left =
            static_cast<int>(std::min<long>(remaining, options_.messages_per_connection));
        messages_assigned_ += connection->messages_left;
        ++results_.connections_opened;

        // OPTNEG offers every action and every protocol bit, like Postfix does.
        std::string payload;
        append_u32(payload, SMFI_PROT_VERSION);
        append_u32(payload, 0x1FF);       // all SMFIF_* actions up to SETSYMLIST
        append_u32(payload, 0x001FFFFF);  // all SMFIP_* steps up to HDR_LEADSPC
        Step optneg{Stage::optneg, {}, true};
        append_packet(optneg.bytes, SMFIC_OPTNEG, payload);
        connection->steps.push_back(std::move(optneg));

        epoll_event event{};
        event.events = EPOLLIN | EPOLLOUT;
        event.data.fd = fd.get();
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd.get(), &event) != 0)
            throw std::runtime_error(std::string("epoll_ctl: ") + std::strerror(errno));
        connection->fd = std::move(fd);
        Connection& c = *connection;
        connections_.emplace(c.fd.get(), std::move(connection));
        send_next(c);
    }

    // Marks c closed; it is freed (and replaced) after the current batch of
    // events, so no caller up the stack holds a dangling reference and no fd
    // number is reused within a batch.
    void close_connection(Connection& c, bool failed) {
        if (c.dead) return;
        if (failed) {
            ++results_.errors;
            // The messages it did not start are given to a new connection.
            messages_assigned_ -= c.messages_left;
            c.messages_left = 0;
        }
        c.dead = true;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
        dead_.push_back(c.fd.get());
    }

    void reap_dead_connections() {
        const std::size_t replacements = dead_.size();
        for (int fd : dead_) connections_.erase(fd);
        dead_.clear();
        for (std::size_t i = 0; i < replacements; ++i) open_connection();
    }

    // Steps of the session after OPTNEG: macros and commands, skipping what the
    // milter negotiated away (and its macros), no reply where it asked for none.
    void plan_session(Connection& c) {
        const Negotiated& n = c.negotiated;
        if (!n.skips(SMFIP_NOCONNECT)) {
            Step step{Stage::connect, {}, !n.skips(SMFIP_NR_CONN)};
            append_macros(step.bytes, SMFIC_CONNECT,
                          {"j", "bench-mta.test.invalid", "{daemon_name}", "bench-mta", "{daemon_addr}", "127.0.0.1",
                           "v", "Postfix 3.7.11", "_", "localhost [127.0.0.1]", "{client_addr}", "127.0.0.1"});
            std::string payload = "localhost";
            payload.push_back('\0');
            payload.push_back(SMFIA_INET);
            const std::uint16_t port = htons(static_cast<std::uint16_t>(40000 + (queue_id_counter_ % 20000)));
            payload.append(reinterpret_cast<const char*>(&port), 2);
            payload.append("127.0.0.1");
            payload.push_back('\0');
            append_packet(step.bytes, SMFIC_CONNECT, payload);
            c.steps.push_back(std::move(step));
        }
        if (!n.skips(SMFIP_NOHELO)) {
            Step step{Stage::helo, {}, !n.skips(SMFIP_NR_HELO)};
            append_packet(step.bytes, SMFIC_HELO, strings({"bench-client.test.invalid"}));
            c.steps.push_back(std::move(step));
        }
        plan_message(c);
    }

    std::string sender_address() {
        if (!options_.sender_local.empty()) return options_.sender_local + "@" + options_.sender_domain;
        const std::size_t index = senders_.next();
        if (options_.senders.kind == SenderDistribution::Kind::one) return "bench@" + options_.sender_domain;
        return concat({"s", std::to_string(index), "@", options_.sender_domain});
    }

    void plan_message(Connection& c) {
        if (c.messages_left <= 0) {
            c.steps.push_back(quit_step());
            return;
        }
        --c.messages_left;
        c.recipients_accepted = 0;
        const Negotiated& n = c.negotiated;
        const std::string id = queue_id();
        const std::string sender = sender_address();
        const std::string local = sender.substr(0, sender.find('@'));

        {
            Step step{Stage::mail, {}, !n.skips(SMFIP_NR_MAIL)};
            step.starts_message = true;
            if (!n.skips(SMFIP_NOMAIL)) {
                if (options_.send_auth_macro)
                    append_macros(step.bytes, SMFIC_MAIL,
                                  {"{mail_addr}", sender, "{auth_type}", "PLAIN", "{auth_authen}", local});
                else
                    append_macros(step.bytes, SMFIC_MAIL, {"{mail_addr}", sender});
                append_packet(step.bytes, SMFIC_MAIL, strings({"<" + sender + ">", concat({"SIZE=", std::to_string(body_.size())})}));
            } else {
                step.expects_reply = false;
            }
            c.steps.push_back(std::move(step));
        }
        for (int r = 0; r < options_.recipients; ++r) {
            if (n.skips(SMFIP_NORCPT)) break;
            Step step{Stage::rcpt, {}, !n.skips(SMFIP_NR_RCPT)};
            const std::string recipient = concat({"r", std::to_string(r), "@", options_.recipient_domain});
            append_macros(step.bytes, SMFIC_RCPT, {"{rcpt_addr}", recipient});
            append_packet(step.bytes, SMFIC_RCPT, strings({"<" + recipient + ">"}));
            c.steps.push_back(std::move(step));
        }
        if (!n.skips(SMFIP_NODATA)) {
            Step step{Stage::data, {}, !n.skips(SMFIP_NR_DATA)};
            append_macros(step.bytes, SMFIC_DATA, {"i", id});
            append_packet(step.bytes, SMFIC_DATA, {});
            c.steps.push_back(std::move(step));
        }
        if (!n.skips(SMFIP_NOHDRS)) {
            const std::string header_values[][2] = {
                {"From", "<" + sender + ">"},
                {"To", "<r0@" + options_.recipient_domain + ">"},
                {"Subject", "benchmark message " + id},
                {"Message-ID", "<" + id + "@bench.test.invalid>"},
                {"Date", "Sat, 28 Nov 2026 12:00:00 +0000"},
            };
            for (int h = 0; h < options_.headers; ++h) {
                Step step{Stage::header, {}, !n.skips(SMFIP_NR_HDR)};
                const auto& hv = header_values[h % 5];
                append_packet(step.bytes, SMFIC_HEADER, strings({hv[0], hv[1]}));
                c.steps.push_back(std::move(step));
            }
        }
        if (!n.skips(SMFIP_NOEOH)) {
            Step step{Stage::eoh, {}, !n.skips(SMFIP_NR_EOH)};
            append_packet(step.bytes, SMFIC_EOH, {});
            c.steps.push_back(std::move(step));
        }
        if (!n.skips(SMFIP_NOBODY)) {
            for (std::size_t offset = 0; offset < body_.size(); offset += MILTER_CHUNK_SIZE) {
                Step step{Stage::body, {}, !n.skips(SMFIP_NR_BODY)};
                append_packet(step.bytes, SMFIC_BODY,
                              std::string_view(body_).substr(offset, std::min<std::size_t>(MILTER_CHUNK_SIZE, body_.size() - offset)));
                c.steps.push_back(std::move(step));
            }
        }
        Step eom{Stage::eom, {}, true};
        eom.ends_message = true;
        append_macros(eom.bytes, SMFIC_BODYEOB, {"i", id});
        append_packet(eom.bytes, SMFIC_BODYEOB, {});
        c.steps.push_back(std::move(eom));
    }

    // Drops the rest of the current message (it was refused or accepted
    // early), tells the milter with ABORT, and plans the next message.
    void end_message_early(Connection& c) {
        while (!c.steps.empty() && !c.steps.front().ends_message) c.steps.pop_front();
        if (!c.steps.empty()) c.steps.pop_front();
        Step abort{Stage::optneg, {}, false};
        append_packet(abort.bytes, SMFIC_ABORT, {});
        c.steps.push_front(std::move(abort));
        count_message_done(c);
        plan_message(c);
    }

    void count_message_done(Connection& c) {
        ++results_.messages_done;
        results_.message_latency.add(microseconds_between(c.message_started_at, Clock::now()));
    }

    // Writes steps up to and including the next one that expects a reply.
    void send_next(Connection& c) {
        while (!c.steps.empty() && !c.awaiting_reply) {
            Step step = std::move(c.steps.front());
            c.steps.pop_front();
            c.out += step.bytes;
            if (step.starts_message) c.message_started_at = Clock::now();
            if (step.expects_reply) {
                c.awaiting_reply = true;
                c.awaited_stage = step.stage;
                c.awaited_ends_message = step.ends_message;
            }
            if (step.is_quit) c.closing = true;
        }
        c.sent_at = Clock::now();
        flush(c);
    }

    void flush(Connection& c) {
        while (c.out_offset < c.out.size()) {
            const ssize_t written = ::send(c.fd.get(), c.out.data() + c.out_offset, c.out.size() - c.out_offset,
                                           MSG_NOSIGNAL);
            if (written < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK) return;  // EPOLLOUT resumes
                if (errno == EINTR) continue;
                std::fprintf(stderr, "qm-milter-load: send: %s\n", std::strerror(errno));
                return close_connection(c, true);
            }
            c.out_offset += static_cast<std::size_t>(written);
        }
        c.out.clear();
        c.out_offset = 0;
        if (c.closing) return close_connection(c, false);
    }

    void handle_event(Connection& c, std::uint32_t events) {
        if (events & EPOLLOUT) {
            flush(c);
            if (c.dead) return;
        }
        if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) read_replies(c);
    }

    void read_replies(Connection& c) {
        char buffer[16384];
        for (int rounds = 0; rounds < 64; ++rounds) {
            const ssize_t got = ::recv(c.fd.get(), buffer, sizeof buffer, 0);
            if (got > 0) {
                c.in.append(buffer, static_cast<std::size_t>(got));
                if (static_cast<std::size_t>(got) < sizeof buffer) break;
                continue;
            }
            if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            if (got < 0 && errno == EINTR) continue;
            std::fprintf(stderr, "qm-milter-load: milter closed the connection%s%s (awaiting %s)\n",
                         got < 0 ? ": " : "", got < 0 ? std::strerror(errno) : "",
                         c.awaiting_reply ? kStageNames[static_cast<int>(c.awaited_stage)] : "nothing");
            return close_connection(c, true);
        }
        while (c.in.size() >= 5 && !c.dead) {
            std::uint32_t net_length;
            std::memcpy(&net_length, c.in.data(), 4);
            const std::uint32_t length = ntohl(net_length);
            if (length == 0 || length > (1u << 24)) {
                std::fprintf(stderr, "qm-milter-load: bad packet length %u\n", length);
                return close_connection(c, true);
            }
            if (c.in.size() < 4 + static_cast<std::size_t>(length)) break;
            const char command = c.in[4];
            const std::string payload = c.in.substr(5, length - 1);
            c.in.erase(0, 4 + static_cast<std::size_t>(length));
            handle_reply(c, command, payload);
        }
    }

    void handle_reply(Connection& c, char command, const std::string& payload) {
        if (!c.awaiting_reply) {
            std::fprintf(stderr, "qm-milter-load: unexpected reply '%c'\n", command);
            return close_connection(c, true);
        }
        const Stage stage = c.awaited_stage;
        switch (command) {
            case SMFIR_ADDHEADER:
            case SMFIR_INSHEADER:
            case SMFIR_CHGHEADER:
            case SMFIR_QUARANTINE:
            case SMFIR_ADDRCPT:
            case SMFIR_DELRCPT:
            case SMFIR_ADDRCPT_PAR:
            case SMFIR_CHGFROM:
            case SMFIR_REPLBODY:
                ++results_.modifications;  // an action before the final answer
                return;
            case SMFIR_PROGRESS: return;
            default: break;
        }
        const Clock::time_point now = Clock::now();
        results_.stage_latency[static_cast<int>(stage)].add(microseconds_between(c.sent_at, now));
        c.awaiting_reply = false;

        if (stage == Stage::optneg) {
            if (command != SMFIC_OPTNEG || payload.size() < 12) {
                std::fprintf(stderr, "qm-milter-load: bad OPTNEG answer '%c'\n", command);
                return close_connection(c, true);
            }
            std::uint32_t fields[3];
            std::memcpy(fields, payload.data(), 12);
            c.negotiated.actions = ntohl(fields[1]);
            c.negotiated.protocol = ntohl(fields[2]);
            if (!negotiation_reported_) {
                negotiation_reported_ = true;
                first_negotiation_ = c.negotiated;
            }
            plan_session(c);
            return send_next(c);
        }

        // Classify the final answer of this stage.
        enum class Verdict { go_on, accept, reject, tempfail, discard } verdict = Verdict::go_on;
        switch (command) {
            case SMFIR_CONTINUE:
            case SMFIR_SKIP: verdict = Verdict::go_on; break;
            case SMFIR_ACCEPT: verdict = Verdict::accept; break;
            case SMFIR_REJECT: verdict = Verdict::reject; break;
            case SMFIR_TEMPFAIL: verdict = Verdict::tempfail; break;
            case SMFIR_DISCARD: verdict = Verdict::discard; break;
            case SMFIR_REPLYCODE:
                verdict = !payload.empty() && payload[0] == '4' ? Verdict::tempfail : Verdict::reject;
                break;
            default:
                std::fprintf(stderr, "qm-milter-load: unknown answer '%c' at %s\n", command,
                             kStageNames[static_cast<int>(stage)]);
                return close_connection(c, true);
        }

        auto count_verdict = [&] {
            switch (verdict) {
                case Verdict::go_on:
                case Verdict::accept: ++results_.accepted; break;
                case Verdict::reject: ++results_.rejected; break;
                case Verdict::tempfail: ++results_.tempfailed; break;
                case Verdict::discard: ++results_.discarded; break;
            }
            if (verdict == Verdict::reject || verdict == Verdict::tempfail)
                ++results_.refusal_stage_counts[kStageNames[static_cast<int>(stage)][0]];
        };

        switch (stage) {
            case Stage::connect:
            case Stage::helo:
                if (verdict != Verdict::go_on) {
                    // The whole connection is decided: its messages never reach the milter.
                    c.steps.clear();
                    if (verdict == Verdict::accept) {
                        results_.accepted += c.messages_left + 1;
                    } else {
                        results_.other += c.messages_left + 1;
                    }
                    results_.messages_done += c.messages_left + 1;
                    c.messages_left = 0;
                    c.steps.push_back(quit_step());
                }
                return send_next(c);
            case Stage::rcpt:
                if (verdict == Verdict::go_on || verdict == Verdict::accept) ++c.recipients_accepted;
                if (verdict == Verdict::accept) {
                    count_verdict();
                    end_message_early(c);
                    return send_next(c);
                }
                // A refused recipient: the others go on. None left at all: the message ends.
                if (verdict != Verdict::go_on && c.recipients_accepted == 0 && !c.steps.empty() &&
                    c.steps.front().stage != Stage::rcpt) {
                    count_verdict();
                    end_message_early(c);
                }
                return send_next(c);
            case Stage::eom:
                count_verdict();
                count_message_done(c);
                plan_message(c);
                return send_next(c);
            default:
                if (verdict != Verdict::go_on) {
                    count_verdict();
                    end_message_early(c);
                }
                return send_next(c);
        }
    }

    void report(bool timed_out) const {
        const double elapsed = std::chrono::duration<double>(finished_at_ - started_at_).count();
        const double rate = elapsed > 0 ? static_cast<double>(results_.messages_done) / elapsed : 0.0;
        std::printf("qm-milter-load: %s, %d connections, %d message(s) per connection\n", options_.socket.c_str(),
                    options_.connections, options_.messages_per_connection);
        std::printf("negotiated: actions 0x%x protocol 0x%x\n", first_negotiation_.actions,
                    first_negotiation_.protocol);
        std::printf("messages %ld in %.3f s = %.1f msg/s; accepted %ld rejected %ld tempfailed %ld discarded %ld "
                    "other %ld; modifications %ld; connections %ld; errors %ld%s\n",
                    results_.messages_done, elapsed, rate, results_.accepted, results_.rejected, results_.tempfailed,
                    results_.discarded, results_.other, results_.modifications, results_.connections_opened,
                    results_.errors, timed_out ? " (TIME LIMIT HIT)" : "");
        std::printf("%-8s %9s %10s %10s %10s %10s  (microseconds)\n", "stage", "samples", "p50", "p99", "p999",
                    "max");
        auto row = [](const char* name, const LatencySamples& s) {
            if (s.count() == 0) return;
            std::printf("%-8s %9zu %10.1f %10.1f %10.1f %10.1f\n", name, s.count(), s.percentile(0.50),
                        s.percentile(0.99), s.percentile(0.999), s.max());
        };
        for (int i = 0; i < static_cast<int>(Stage::count); ++i) row(kStageNames[i], results_.stage_latency[i]);
        row("message", results_.message_latency);

        std::printf("RESULT msgs_per_s=%.1f messages=%ld elapsed_s=%.3f connections=%d accepted=%ld rejected=%ld "
                    "tempfailed=%ld errors=%ld modifications=%ld timed_out=%d",
                    rate, results_.messages_done, elapsed, options_.connections, results_.accepted, results_.rejected,
                    results_.tempfailed, results_.errors, results_.modifications, timed_out ? 1 : 0);
        for (int i = 0; i < static_cast<int>(Stage::count); ++i) {
            const auto& s = results_.stage_latency[i];
            if (s.count() == 0) continue;
            std::printf(" %s_p50_us=%.1f %s_p99_us=%.1f %s_p999_us=%.1f", kStageNames[i], s.percentile(0.5),
                        kStageNames[i], s.percentile(0.99), kStageNames[i], s.percentile(0.999));
        }
        const auto& m = results_.message_latency;
        std::printf(" message_p50_us=%.1f message_p99_us=%.1f message_p999_us=%.1f\n", m.percentile(0.5),
                    m.percentile(0.99), m.percentile(0.999));
        std::fflush(stdout);
    }

    Options options_;
    Address address_;
    SenderPicker senders_;
    FileDescriptor epoll_;
    std::string body_;
    std::map<int, std::unique_ptr<Connection>> connections_;
    std::vector<int> dead_;
    Results results_;
    long messages_assigned_ = 0;
    unsigned long queue_id_counter_ = 0;
    bool negotiation_reported_ = false;
    Negotiated first_negotiation_;
    Clock::time_point started_at_{}, finished_at_{};
};

}  // namespace
}  // namespace quotamilter::bench

int main(int argc, char** argv) {
    try {
        quotamilter::bench::LoadGenerator generator(quotamilter::bench::parse_options(argc, argv));
        return generator.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qm-milter-load: %s\n", e.what());
        return 70;
    }
}
