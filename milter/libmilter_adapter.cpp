#include "milter/libmilter_adapter.h"

#include "milter/answer_status.h"
#include "milter/client_address.h"
#include "milter/negotiation.h"
#include "milter/privileges.h"
#include "filter/reply.h"
#include "milter/socket_spec.h"

#include <libmilter/mfapi.h>

#include <fmt/format.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <optional>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdexcept>
#include <thread>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

// TCP_NODELAY on every connection libmilter accepts: linked with
// -Wl,--wrap=accept against the static libmilter.a (milter/CMakeLists.txt), so
// that a reply written right after another is not held by Nagle
// (milter-traps.md, the 40 ms trap). Lives in this file because this object
// is always linked whenever libmilter's listener is.
// -Wl,--wrap=mi_control_startup: smfi_main would start libmilter's own
// signal thread, which sigwaits on SIGHUP/SIGTERM/SIGINT like ours. Whichever
// thread the kernel picked got the signal: ours drains open sessions and
// exits 0; libmilter's closes them at once, and on SIGINT (MILTER_ABRT) makes
// smfi_main fail (exit 1). Without its thread ours always gets them.
// mi_control_startup only initialises a mutex (static, zero-initialised:
// a valid default mutex with glibc) and starts that thread.
extern "C" int __wrap_mi_control_startup(char*) { return MI_SUCCESS; }

extern "C" int __real_accept(int fd, struct sockaddr* address, socklen_t* length);
extern "C" int __wrap_accept(int fd, struct sockaddr* address, socklen_t* length) {
    int client = __real_accept(fd, address, length);
    if (client >= 0) {
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

namespace quotamilter::milter {

using filter::FilterAnswer;
using filter::FilterEnvironment;
using filter::Session;
using filter::NegotiatedStages;
using filter::OnStoreError;
using filter::SmtpReply;
using filter::LogLevel;
using filter::store_unavailable_reply;


namespace {

// libmilter callbacks carry no user pointer: the environment is process-wide,
// set once before smfi_main and valid until the process ends.
FilterEnvironment* g_environment = nullptr;

// The unix socket we created (path, device, inode), removed at exit only if
// the file is still that socket: never another instance's.
struct OwnedSocket {
    std::string path;
    dev_t device = 0;
    ino_t inode = 0;
};
std::optional<OwnedSocket> g_owned_socket;

std::atomic<long> g_callbacks_in_flight{0};

// Where we listen, to wake libmilter's listener at stop (below).
std::optional<SocketSpec> g_listen_spec;

// libmilter's listener polls its socket for up to 5 s (MI_CHK_TIME) while
// holding the lock smfi_stop needs to close that socket, and checks the stop
// flag only between polls: a connection to ourselves ends the poll at once.
// Best effort, non-blocking.
void wake_listener() {
    if (!g_listen_spec) return;
    const SocketSpec& spec = *g_listen_spec;
    if (spec.kind == SocketSpec::Kind::unix_path) {
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) return;
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, spec.path.c_str(), std::min(spec.path.size(), sizeof address.sun_path - 1));
        (void)::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address);
        ::close(fd);
        return;
    }
    const bool v6 = spec.kind == SocketSpec::Kind::inet6;
    std::string host = spec.host;
    if (host.empty() || host == "0.0.0.0" || host == "::" || host == "INADDR_ANY") host = v6 ? "::1" : "127.0.0.1";
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_family = v6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), spec.port.c_str(), &hints, &found) != 0 || !found) return;
    std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, &::freeaddrinfo);
    int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    (void)::connect(fd, found->ai_addr, found->ai_addrlen);
    ::close(fd);
}

// Counts a callback for as long as it runs.
struct InCallback {
    InCallback() { g_callbacks_in_flight.fetch_add(1, std::memory_order_acq_rel); }
    ~InCallback() { g_callbacks_in_flight.fetch_sub(1, std::memory_order_acq_rel); }
    InCallback(const InCallback&) = delete;
    InCallback& operator=(const InCallback&) = delete;
};

// ---- thin wrappers around every smfi_* call -------------------------------

Session* session_of(SMFICTX* ctx) { return static_cast<Session*>(smfi_getpriv(ctx)); }

void attach_session(SMFICTX* ctx, std::unique_ptr<Session> session) {
    std::unique_ptr<Session> previous(session_of(ctx));  // negotiate twice: free the old one
    smfi_setpriv(ctx, session.release());
}

void detach_session(SMFICTX* ctx) {
    std::unique_ptr<Session> session(session_of(ctx));  // NULL-safe: close may come without connect
    smfi_setpriv(ctx, nullptr);
}

std::optional<std::string> macro(SMFICTX* ctx, const char* name) {
    const char* value = smfi_getsymval(ctx, const_cast<char*>(name));
    if (value == nullptr) return std::nullopt;
    return std::string(value);
}

void set_reply(SMFICTX* ctx, const std::string& rcode, const std::string& xcode, const std::string& text) {
    if (rcode.empty()) return;
    if (smfi_setreply(ctx, const_cast<char*>(rcode.c_str()), xcode.empty() ? nullptr : const_cast<char*>(xcode.c_str()),
                      text.empty() ? nullptr : const_cast<char*>(text.c_str())) != MI_SUCCESS)
        g_environment->logger.warning(fmt::format("smfi_setreply refused {} {} {}", rcode, xcode, text));
}

void quarantine(SMFICTX* ctx, const std::string& reason) {
    std::string text = reason.empty() ? std::string("quotamilter") : reason;
    if (smfi_quarantine(ctx, text.data()) != MI_SUCCESS)
        g_environment->logger.warning("smfi_quarantine failed (was SMFIF_QUARANTINE negotiated?)");
}

void add_header(SMFICTX* ctx, const std::string& name, const std::string& value) {
    if (smfi_addheader(ctx, const_cast<char*>(name.c_str()), const_cast<char*>(value.c_str())) != MI_SUCCESS)
        g_environment->logger.warning(fmt::format("smfi_addheader {} failed", name));
}

// ---- answers -------------------------------------------------------------

enum class Where { connection, message, end_of_message };

// The side effects of an answer (reply text, headers, quarantine), then its
// status (answer_status.h).
sfsistat deliver(SMFICTX* ctx, const FilterAnswer& answer, Where where) {
    switch (answer.action) {
        case FilterAnswer::Action::continue_:
            if (where == Where::end_of_message)
                for (const auto& [name, value] : answer.add_headers) add_header(ctx, name, value);
            break;
        case FilterAnswer::Action::reject:
        case FilterAnswer::Action::tempfail:
            set_reply(ctx, answer.rcode, answer.xcode, answer.text);  // right before the return that uses it
            break;
        case FilterAnswer::Action::quarantine:  // held, but accepted: tags too
            if (where == Where::end_of_message) {
                for (const auto& [name, value] : answer.add_headers) add_header(ctx, name, value);
                quarantine(ctx, answer.quarantine_reason);
            }
            break;
        case FilterAnswer::Action::accept:
        case FilterAnswer::Action::discard:
        case FilterAnswer::Action::no_reply: break;
    }
    return answer_status(answer);
}

// No exception crosses into libmilter: a failure answers like a store
// failure (on_store_error). In a stage negotiated "no reply" (`no_reply_to`
// names the session) nothing may be answered: the session answers it at the
// next stage that can (Session::defer_internal_error).
template <class Body>
sfsistat guarded(SMFICTX* ctx, const char* stage, Where where, Body&& body, Session* no_reply_to = nullptr) noexcept {
    InCallback counted;
    try {
        return body();
    } catch (const std::exception& e) {
        try {
            g_environment->logger.error(fmt::format("internal error at {}: {}", stage, e.what()));
        } catch (...) {
        }
    } catch (...) {
        try {
            g_environment->logger.error(fmt::format("internal error at {}", stage));
        } catch (...) {
        }
    }
    if (no_reply_to) {
        no_reply_to->defer_internal_error();
        return SMFIS_NOREPLY;
    }
    if (g_environment->settings.on_store_error == OnStoreError::accept)
        return where == Where::connection ? SMFIS_CONTINUE : SMFIS_ACCEPT;
    try {
        SmtpReply reply = store_unavailable_reply();
        set_reply(ctx, reply.rcode, reply.xcode, reply.text);
    } catch (...) {
    }
    return SMFIS_TEMPFAIL;
}

// ---- callbacks -----------------------------------------------------------

// "skipped", "no reply" or "answered", for the negotiate log line.
const char* stage_use(const Negotiation& negotiation, std::uint64_t skip_flag, bool no_reply) {
    if ((negotiation.steps & skip_flag) != 0) return "skipped";
    return no_reply ? "no reply" : "answered";
}

sfsistat on_negotiate(SMFICTX* ctx, unsigned long offered_actions, unsigned long offered_steps, unsigned long,
                      unsigned long, unsigned long* actions, unsigned long* steps, unsigned long* reserved2,
                      unsigned long* reserved3) {
    InCallback counted;
    try {
        auto rule_set = g_environment->rules.current();
        const Negotiation wanted = negotiate(offered_actions, offered_steps, rule_set && rule_set->needs_body(),
                                             rule_set && rule_set->needs_headers(),
                                             rule_set && rule_set->needs_tagging());
        // The session first: it must know the "no reply" stages before any
        // flag reaches the MTA.
        attach_session(ctx, std::make_unique<Session>(*g_environment, wanted.stages));
        *actions = static_cast<unsigned long>(wanted.actions);
        *steps = static_cast<unsigned long>(wanted.steps);
        *reserved2 = 0;
        *reserved3 = 0;
        if (g_environment->logger.enabled(LogLevel::debug))
            g_environment->logger.debug(fmt::format(
                "negotiated: offered actions=0x{:x} steps=0x{:x}; asked actions=0x{:x} steps=0x{:x} "
                "(headers {}, end of headers {}, body {})",
                offered_actions, offered_steps, wanted.actions, wanted.steps, stage_use(wanted, SMFIP_NOHDRS, wanted.header_no_reply),
                stage_use(wanted, SMFIP_NOEOH, false), stage_use(wanted, SMFIP_NOBODY, wanted.body_no_reply)));
        if (wanted.set_macro_lists) {
            smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>(kMailMacros));
            smfi_setsymlist(ctx, SMFIM_ENVRCPT, const_cast<char*>(kRcptMacros));
            smfi_setsymlist(ctx, SMFIM_DATA, const_cast<char*>(kDataMacros));
            smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>(kEomMacros));
        }
        return SMFIS_CONTINUE;
    } catch (const std::exception& e) {
        try {
            g_environment->logger.error(fmt::format("internal error at negotiate: {}", e.what()));
        } catch (...) {
        }
        return SMFIS_REJECT;  // the MTA applies its milter_default_action
    } catch (...) {
        return SMFIS_REJECT;
    }
}

sfsistat on_connect(SMFICTX* ctx, char*, _SOCK_ADDR* hostaddr) {
    return guarded(ctx, "connect", Where::connection, [&] {
        Session* session = session_of(ctx);
        if (!session) {
            // An MTA that skipped negotiation: nothing was negotiated away.
            attach_session(ctx, std::make_unique<Session>(*g_environment));
            session = session_of(ctx);
        }
        const ClientAddress client = describe_client(hostaddr);
        return deliver(ctx, session->on_connect(client.ip, client.port), Where::connection);
    });
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "MAIL", Where::message, [&] {
        Session* session = session_of(ctx);
        if (!session || !argv || !argv[0]) return SMFIS_CONTINUE;
        std::vector<std::string> params;
        for (char** arg = argv + 1; *arg; ++arg) params.emplace_back(*arg);
        return deliver(ctx, session->on_mail(argv[0], params, macro(ctx, "{auth_authen}"), macro(ctx, "i")),
                       Where::message);
    });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "RCPT", Where::message, [&] {
        Session* session = session_of(ctx);
        if (!session || !argv || !argv[0]) return SMFIS_CONTINUE;
        return deliver(ctx, session->on_rcpt(argv[0], macro(ctx, "i")), Where::message);
    });
}

sfsistat on_data(SMFICTX* ctx) {
    return guarded(ctx, "DATA", Where::message, [&] {
        Session* session = session_of(ctx);
        if (!session) return SMFIS_CONTINUE;
        return deliver(ctx, session->on_data(macro(ctx, "i")), Where::message);
    });
}

// Headers and body chunks: SMFIS_NOREPLY when negotiated so (the session
// answers no_reply then, and the exception path defers to the session).
sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    InCallback counted;  // from here on (guarded counts again)
    Session* session = session_of(ctx);
    if (!session) return SMFIS_CONTINUE;  // never negotiated, so never "no reply"
    return guarded(
        ctx, "header", Where::message,
        [&] { return deliver(ctx, session->on_header(name ? name : "", value ? value : ""), Where::message); },
        session->stages().no_reply_header ? session : nullptr);
}

sfsistat on_eoh(SMFICTX* ctx) {
    return guarded(ctx, "end of headers", Where::message, [&] {
        Session* session = session_of(ctx);
        if (!session) return SMFIS_CONTINUE;
        return deliver(ctx, session->on_eoh(), Where::message);
    });
}

sfsistat on_body(SMFICTX* ctx, unsigned char*, size_t length) {
    InCallback counted;  // from here on (guarded counts again)
    Session* session = session_of(ctx);
    if (!session) return SMFIS_CONTINUE;
    return guarded(
        ctx, "body", Where::message, [&] { return deliver(ctx, session->on_body(length), Where::message); },
        session->stages().no_reply_body ? session : nullptr);
}

sfsistat on_eom(SMFICTX* ctx) {
    return guarded(ctx, "end of message", Where::end_of_message, [&] {
        Session* session = session_of(ctx);
        if (!session) return SMFIS_CONTINUE;
        return deliver(ctx, session->on_eom(macro(ctx, "i")), Where::end_of_message);
    });
}

sfsistat on_abort(SMFICTX* ctx) {
    return guarded(ctx, "abort", Where::message, [&] {
        if (Session* session = session_of(ctx)) session->on_abort();
        return SMFIS_CONTINUE;
    });
}

sfsistat on_close(SMFICTX* ctx) {
    InCallback counted;
    try {
        detach_session(ctx);
    } catch (...) {
    }
    return SMFIS_CONTINUE;
}

smfiDesc make_description() {
    smfiDesc description{};
    description.xxfi_name = const_cast<char*>("quotamilter");
    description.xxfi_version = SMFI_VERSION;
    // Everything we may ever ask for at negotiate; negotiate narrows it.
    description.xxfi_flags = SMFIF_QUARANTINE | SMFIF_ADDHDRS | SMFIF_SETSYMLIST;
    description.xxfi_connect = on_connect;
    description.xxfi_helo = nullptr;
    description.xxfi_envfrom = on_envfrom;
    description.xxfi_envrcpt = on_envrcpt;
    description.xxfi_header = on_header;
    description.xxfi_eoh = on_eoh;
    description.xxfi_body = on_body;
    description.xxfi_eom = on_eom;
    description.xxfi_abort = on_abort;
    description.xxfi_close = on_close;
    description.xxfi_unknown = nullptr;
    description.xxfi_data = on_data;
    description.xxfi_negotiate = on_negotiate;
    return description;
}

}  // namespace

void open_milter_socket(FilterEnvironment& environment, const MilterRunOptions& options) {
    g_environment = &environment;
    const SocketSpec spec = parse_socket_spec(options.socket);  // std::invalid_argument is a runtime message too
    g_listen_spec = spec;

    static smfiDesc description = make_description();  // libmilter keeps the pointer
    if (smfi_register(description) == MI_FAILURE) throw std::runtime_error("smfi_register failed");
    if (smfi_setconn(const_cast<char*>(options.socket.c_str())) == MI_FAILURE)
        throw std::runtime_error(fmt::format("smfi_setconn {} failed", options.socket));
    if (smfi_settimeout(static_cast<int>(options.timeout.count())) == MI_FAILURE)
        throw std::runtime_error("smfi_settimeout failed");
    if (options.listen_backlog > 0 && smfi_setbacklog(options.listen_backlog) == MI_FAILURE)
        throw std::runtime_error("smfi_setbacklog failed");

    if (spec.kind == SocketSpec::Kind::unix_path) {
        const std::string directory = spec.path.substr(0, std::max<std::size_t>(spec.path.rfind('/'), 1));
        struct stat info {};
        if (::stat(directory.c_str(), &info) != 0 || !S_ISDIR(info.st_mode))
            throw std::runtime_error(
                fmt::format("socket directory {} does not exist (create it, owned by the milter's user)", directory));
        switch (clear_stale_unix_socket(spec.path)) {
            case StaleSocket::in_use:
                throw std::runtime_error(
                    fmt::format("socket {} is in use by a running milter; not taking it over", spec.path));
            case StaleSocket::not_a_socket:
                throw std::runtime_error(fmt::format("{} exists and is not a socket; not removing it", spec.path));
            case StaleSocket::removed_stale:
                environment.logger.info(fmt::format("removed stale socket {}", spec.path));
                break;
            case StaleSocket::absent: break;
        }
        // The socket's permissions come from the umask at bind().
        const mode_t previous = ::umask(static_cast<mode_t>(~options.socket_mode & 0777));
        const int opened = smfi_opensocket(false);
        ::umask(previous);
        if (opened == MI_FAILURE) throw std::runtime_error(fmt::format("cannot listen on {}", options.socket));
        if (::chmod(spec.path.c_str(), options.socket_mode) != 0)
            throw std::runtime_error(fmt::format("chmod {}: {}", spec.path, std::strerror(errno)));
        struct stat created {};
        if (::lstat(spec.path.c_str(), &created) == 0)
            g_owned_socket = OwnedSocket{spec.path, created.st_dev, created.st_ino};
        drop_privileges(options.user, options.group, spec.path);
    } else {
        if (smfi_opensocket(false) == MI_FAILURE)
            throw std::runtime_error(fmt::format("cannot listen on {}", options.socket));
        drop_privileges(options.user, options.group, "");
    }
}

// Set by stop_milter_loop: a stop we asked for is a clean exit, even when it
// came before smfi_main had started listening (it then reports a failure).
std::atomic<bool> g_stop_requested{false};

int run_milter_loop() {
    const bool failed = smfi_main() != MI_SUCCESS;
    const int status = failed && !g_stop_requested.load() ? 1 : 0;
    if (g_owned_socket) {
        struct stat now {};
        if (::lstat(g_owned_socket->path.c_str(), &now) == 0 && now.st_dev == g_owned_socket->device &&
            now.st_ino == g_owned_socket->inode)
            ::unlink(g_owned_socket->path.c_str());
        g_owned_socket.reset();
    }
    return status;
}

void stop_milter_loop() {
    // smfi_stop sets the stop flag, then waits for the listener's lock:
    // poke the listener until it has let go (bounded: 6 s, past one poll).
    g_stop_requested.store(true);
    std::atomic<bool> stopped{false};
    std::thread stopper([&stopped] {
        (void)smfi_stop();
        stopped.store(true);
    });
    for (int attempt = 0; attempt < 120 && !stopped.load(); ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(attempt == 0 ? 5 : 50));
        if (!stopped.load()) wake_listener();
    }
    stopper.join();
}

long callbacks_in_flight() { return g_callbacks_in_flight.load(std::memory_order_acquire); }

}  // namespace quotamilter::milter
