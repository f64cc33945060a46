// qm-smtp-latency: one SMTP session at a time, N messages, each timed. It
// measures what a milter adds per message when nothing else is queued: the
// 40 ms TCP trap (docs/MILTER-TRAPS.md) shows up here and nowhere in throughput.
//
// Per message: connect, 220, EHLO, MAIL, RCPT, DATA, body, ".", QUIT — no
// pipelining, like a plain client. Reports the whole session's and the
// transaction's (MAIL to the answer after ".") p50/p99/p999 in microseconds,
// and one machine-readable RESULT line.

#include "bench/latency_stats.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace quotamilter::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    std::string host = "127.0.0.1";
    int port = 0;
    long messages = 200;
    long warmup = 5;
    std::string sender = "bench@hudedu.net";
    std::string recipient = "r0@example.com";
    std::size_t body_bytes = 1024;
    double time_limit_seconds = 300;
};

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "qm-smtp-latency: %s\n"
                 "usage: qm-smtp-latency --server HOST:PORT [--messages N] [--warmup N] [--from A] [--to B]\n"
                 "       [--body-bytes B] [--time-limit SECONDS]\n",
                 why);
    std::exit(64);
}

class Session {
public:
    Session(const Options& o) : options_(o) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw std::runtime_error("socket failed");
        timeval timeout{30, 0};  // a stuck server fails the run instead of hanging it
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(static_cast<std::uint16_t>(o.port));
        inet_pton(AF_INET, o.host.c_str(), &address.sin_addr);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
            throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
        // Our own writes must not wait on Nagle: we measure the server.
        int on = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    }
    ~Session() {
        if (fd_ >= 0) ::close(fd_);
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // Reads one (possibly multi-line) reply; returns its code.
    int reply() {
        for (int guard = 0; guard < 10000; ++guard) {
            const auto end = buffer_.find("\r\n");
            if (end != std::string::npos) {
                const std::string line = buffer_.substr(0, end);
                buffer_.erase(0, end + 2);
                if (line.size() >= 4 && line[3] == '-') continue;
                last_line_ = line;
                return line.size() >= 3 ? std::atoi(line.substr(0, 3).c_str()) : 0;
            }
            char chunk[4096];
            const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
            if (got <= 0) throw std::runtime_error("server closed the connection or timed out");
            buffer_.append(chunk, static_cast<std::size_t>(got));
        }
        throw std::runtime_error("reply too long");
    }
    int command(const std::string& line) {
        send_all(line + "\r\n");
        return reply();
    }
    void send_all(const std::string& data) {
        std::size_t offset = 0;
        while (offset < data.size()) {
            const ssize_t sent = ::send(fd_, data.data() + offset, data.size() - offset, MSG_NOSIGNAL);
            if (sent < 0) {
                if (errno == EINTR) continue;
                throw std::runtime_error(std::string("send: ") + std::strerror(errno));
            }
            offset += static_cast<std::size_t>(sent);
        }
    }
    const std::string& last_line() const { return last_line_; }

private:
    const Options& options_;
    int fd_ = -1;
    std::string buffer_;
    std::string last_line_;
};

std::string message_text(const Options& o, long index) {
    std::string text = "From: <" + o.sender + ">\r\nTo: <" + o.recipient + ">\r\nSubject: latency probe " +
                       std::to_string(index) + "\r\nMessage-ID: <probe" + std::to_string(index) +
                       "@bench.test.invalid>\r\n\r\n";
    const std::string line = "The quick brown fox jumps over the lazy dog, benchmark body line.\r\n";
    std::size_t body = 0;
    while (body + line.size() <= o.body_bytes) {
        text += line;
        body += line.size();
    }
    return text + ".\r\n";
}

int run(const Options& o) {
    LatencySamples session_latency, transaction_latency;
    long failures = 0;
    const auto started = Clock::now();
    const auto deadline = started + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(o.time_limit_seconds));
    bool timed_out = false;
    std::string first_failure;
    for (long i = 0; i < o.warmup + o.messages; ++i) {
        if (Clock::now() > deadline) {
            timed_out = true;
            break;
        }
        const auto session_start = Clock::now();
        Session s(o);
        bool ok = s.reply() == 220 && s.command("EHLO bench-client.test.invalid") == 250;
        const auto transaction_start = Clock::now();
        ok = ok && s.command("MAIL FROM:<" + o.sender + ">") == 250;
        ok = ok && s.command("RCPT TO:<" + o.recipient + ">") == 250;
        ok = ok && s.command("DATA") == 354;
        if (ok) {
            s.send_all(message_text(o, i));
            ok = s.reply() == 250;
        }
        const auto transaction_end = Clock::now();
        if (!ok && first_failure.empty()) first_failure = s.last_line();
        (void)s.command("QUIT");
        const auto session_end = Clock::now();
        if (i < o.warmup) continue;  // first sessions warm up Postfix's process pool
        if (!ok) ++failures;
        session_latency.add(std::chrono::duration<double, std::micro>(session_end - session_start).count());
        transaction_latency.add(
            std::chrono::duration<double, std::micro>(transaction_end - transaction_start).count());
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - started).count();
    std::printf("qm-smtp-latency: %s:%d, %zu messages one session at a time, %ld refused%s%s\n", o.host.c_str(),
                o.port, session_latency.count(), failures, first_failure.empty() ? "" : "; first: ",
                first_failure.c_str());
    std::printf("%-12s %10s %10s %10s %10s %10s  (microseconds)\n", "", "mean", "p50", "p99", "p999", "max");
    auto row = [](const char* name, const LatencySamples& s) {
        std::printf("%-12s %10.1f %10.1f %10.1f %10.1f %10.1f\n", name, s.mean(), s.percentile(0.5),
                    s.percentile(0.99), s.percentile(0.999), s.max());
    };
    row("session", session_latency);
    row("transaction", transaction_latency);
    std::printf("RESULT messages=%zu failures=%ld elapsed_s=%.3f timed_out=%d session_mean_us=%.1f "
                "session_p50_us=%.1f session_p99_us=%.1f session_p999_us=%.1f transaction_mean_us=%.1f "
                "transaction_p50_us=%.1f transaction_p99_us=%.1f transaction_p999_us=%.1f\n",
                session_latency.count(), failures, elapsed, timed_out ? 1 : 0, session_latency.mean(),
                session_latency.percentile(0.5), session_latency.percentile(0.99), session_latency.percentile(0.999),
                transaction_latency.mean(), transaction_latency.percentile(0.5),
                transaction_latency.percentile(0.99), transaction_latency.percentile(0.999));
    std::fflush(stdout);
    if (timed_out) return 2;
    return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace quotamilter::bench

int main(int argc, char** argv) {
    quotamilter::bench::Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) quotamilter::bench::usage((arg + " needs a value").c_str());
            return argv[++i];
        };
        if (arg == "--server") {
            const std::string server = value();
            const auto colon = server.rfind(':');
            if (colon == std::string::npos) quotamilter::bench::usage("--server wants HOST:PORT");
            o.host = server.substr(0, colon);
            o.port = std::atoi(server.substr(colon + 1).c_str());
        } else if (arg == "--messages") o.messages = std::atol(value().c_str());
        else if (arg == "--warmup") o.warmup = std::atol(value().c_str());
        else if (arg == "--from") o.sender = value();
        else if (arg == "--to") o.recipient = value();
        else if (arg == "--body-bytes") o.body_bytes = static_cast<std::size_t>(std::atol(value().c_str()));
        else if (arg == "--time-limit") o.time_limit_seconds = std::atof(value().c_str());
        else quotamilter::bench::usage(("unknown option " + arg).c_str());
    }
    if (o.port <= 0 || o.messages <= 0) quotamilter::bench::usage("--server HOST:PORT and --messages N > 0 needed");
    try {
        return quotamilter::bench::run(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qm-smtp-latency: %s\n", e.what());
        return 70;
    }
}
