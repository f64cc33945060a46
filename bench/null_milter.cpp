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
//
// Linked against the static libmilter.a by path so -Wl,--wrap=accept reaches
// libmilter's own accept() (milter-traps.md).

#include <libmilter/mfapi.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace {

bool g_set_nodelay = true;
bool g_add_header = false;
bool g_skip_data = false;
bool g_with_content = false;   // headers and body negotiated (stages quotamilter-bytes)
bool g_noreply_content = false;

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
sfsistat continue_envelope(SMFICTX*, char**) { return SMFIS_CONTINUE; }
sfsistat continue_header(SMFICTX*, char*, char*) { return g_noreply_content ? SMFIS_NOREPLY : SMFIS_CONTINUE; }
sfsistat continue_plain(SMFICTX*) { return SMFIS_CONTINUE; }
sfsistat continue_body(SMFICTX*, unsigned char*, size_t) { return g_noreply_content ? SMFIS_NOREPLY : SMFIS_CONTINUE; }

sfsistat end_of_message(SMFICTX* ctx) {
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
                 "       [--no-reply-content] [--add-header] [--no-data] [--no-nodelay] [--backlog N] [--socket-mode OCTAL]\n",
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
        else usage(("unknown option " + arg).c_str());
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
    description.xxfi_envfrom = continue_envelope;
    description.xxfi_envrcpt = continue_envelope;
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
    std::fprintf(stderr, "qm-null-milter: listening on %s (stages %s%s%s%s)\n", socket_spec.c_str(),
                 g_with_content ? "quotamilter-bytes" : like_quotamilter ? "quotamilter" : "all", g_skip_data ? " without DATA" : "",
                 g_add_header ? ", add-header" : "", g_set_nodelay ? "" : ", Nagle on");
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
