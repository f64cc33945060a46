// quotamilter serve: load config and rules, open the store and the socket,
// run libmilter until SIGTERM/SIGINT; SIGUSR1 reloads the rules.
#include "cli/cli_args.h"
#include "cli/commands.h"
#include "milter/libmilter_adapter.h"
#include "filter/rules_reload.h"
#include "cli/serve_config.h"
#include "cli/metrics_prometheus.h"
#include "filter/session.h"
#include "store/quota_store.h"

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <pthread.h>
#include <thread>

namespace quotamilter::cli {

namespace {

constexpr const char* kServeHelp =
    "usage: quotamilter serve [--config FILE] [--socket SPEC] [--rules FILE] [--redis URL]\n"
    "                         [--on-store-error tempfail|accept] [--syslog] [OPTIONS]\n"
    "\n"
    "Runs the milter in the foreground until SIGTERM or SIGINT. SIGUSR1 reloads the\n"
    "rule file (a file that fails `quotamilter check` is not loaded; the rules in\n"
    "force stay). Flags override the --config file (JSON; keys in docs/CONFIG.md).\n"
    "\n"
    "  --config FILE             JSON configuration file\n"
    "  --socket SPEC             unix:/path | inet:PORT@HOST | inet6:PORT@HOST\n"
    "                            (default unix:/run/quotamilter/quotamilter.sock)\n"
    "  --socket-mode MODE        permissions of a unix socket (default 0660)\n"
    "  --rules FILE              rule file (default /etc/quotamilter/rules.json)\n"
    "  --redis URL               redis://HOST:PORT/DB, unix:///path?db=N, or memory:\n"
    "                            (default redis://127.0.0.1:6379/0)\n"
    "  --on-store-error WHAT     tempfail (default, 451 4.7.1) or accept when the\n"
    "                            store cannot answer within the timeout\n"
    "  --store-timeout-ms MS     store connect/command timeout (default 250)\n"
    "  --key-prefix PREFIX       Redis key prefix (default qm:)\n"
    "  --syslog                  log to syslog instead of stderr\n"
    "  --syslog-facility NAME    syslog facility (default mail)\n"
    "  --log-level LEVEL         error | warning | info (default) | debug\n"
    "  --user USER, --group GROUP  run as, once the socket is open (when started as root)\n"
    "  --non-smtp auto|always|never  how to recognise non_smtpd_milters mail\n"
    "                            (default auto: Postfix's port-0 local connect)\n"
    "  --metrics HOST:PORT       serve Prometheus metrics at http://HOST:PORT/metrics\n"
    "  --monitor                 every policy in monitor mode: count and log \"would ...\",\n"
    "                            never refuse (roll out a new rule file safely)\n";

std::string hide_password(const std::string& url) {
    // redis://user:secret@host -> redis://user:***@host
    auto scheme = url.find("://");
    auto at = url.find('@');
    if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
    auto colon = url.find(':', scheme + 3);
    if (colon == std::string::npos || colon > at) return url;
    return url.substr(0, colon + 1) + "***" + url.substr(at);
}

sigset_t serve_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);  // shutdown, as libmilter has it
    sigaddset(&set, SIGUSR1);
    return set;
}

// Waits for signals on its own thread: SIGUSR1 reloads; SIGTERM/SIGINT/SIGHUP
// drain (open sessions are served until they end, new ones too, for at most
// `drain`) and then stop the milter. libmilter's own signal thread, which
// would race this one for HUP/TERM/INT, is never started
// (libmilter_adapter.cpp, --wrap=mi_control_startup).
class SignalThread {
public:
    SignalThread(filter::RulesHolder& holder, std::string rules_path, bool monitor_all, filter::Logger& logger,
                 filter::Metrics& metrics, const std::atomic<long>& open_sessions, std::chrono::milliseconds drain)
        : monitor_all_(monitor_all),
          open_sessions_(open_sessions),
          drain_(drain),
          thread_([this, &holder, rules_path = std::move(rules_path), &logger, &metrics] {
              run(holder, rules_path, logger, metrics);
          }) {}
    ~SignalThread() {
        stop_.store(true);
        thread_.join();
    }

private:
    void drain_then_stop(filter::Logger& logger) {
        logger.info(fmt::format("draining: serving {} open sessions for at most {} ms", open_sessions_.load(),
                                drain_.count()));
        const auto deadline = std::chrono::steady_clock::now() + drain_;
        while (open_sessions_.load() > 0 && std::chrono::steady_clock::now() < deadline && !stop_.load())
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        milter::stop_milter_loop();
    }

    void run(filter::RulesHolder& holder, const std::string& rules_path, filter::Logger& logger,
             filter::Metrics& metrics) {
        const sigset_t set = serve_signals();
        while (!stop_.load()) {
            timespec wait{0, 200 * 1000 * 1000};  // poll the stop flag 5 times a second
            int signal = sigtimedwait(&set, nullptr, &wait);
            if (signal < 0) continue;  // EAGAIN (timeout) or EINTR
            try {
                if (signal == SIGUSR1) {
                    logger.info(fmt::format("SIGUSR1: reloading {}", rules_path));
                    filter::reload_rules(holder, rules_path, logger, &metrics, monitor_all_);
                } else {
                    logger.info(fmt::format("{}: stopping", signal == SIGINT ? "SIGINT" : signal == SIGHUP ? "SIGHUP" : "SIGTERM"));
                    drain_then_stop(logger);
                }
            } catch (const std::exception& e) {
                logger.error(fmt::format("signal handling: {}", e.what()));
            }
        }
    }

    const bool monitor_all_;
    const std::atomic<long>& open_sessions_;
    const std::chrono::milliseconds drain_;
    std::atomic<bool> stop_{false};
    std::thread thread_;  // last: starts once the members above exist
};

}  // namespace

int run_serve(const Args& args) {
    // Before any thread exists (store pools, libmilter workers, ours), so
    // that every thread inherits the mask and only sigwait sees the signals.
    const sigset_t signals = serve_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    ParsedArgs parsed(args, serve_value_options(), serve_flag_options());
    if (parsed.has("help")) {
        std::fputs(kServeHelp, stdout);
        return 0;
    }
    ServeConfig config;
    try {
        config = resolve_serve_config(parsed);
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "quotamilter serve: %s\n", e.what());
        return 1;
    }

    std::unique_ptr<filter::Logger> logger = config.log == "syslog"
                                                 ? filter::make_syslog_logger(config.log_level, config.syslog_facility)
                                                 : filter::make_stderr_logger(config.log_level);

    filter::RulesLoad loaded = filter::load_rules(config.rules, config.monitor);
    if (!loaded.rules) {
        for (const auto& error : loaded.errors) {
            std::fprintf(stderr, "%s\n", error.c_str());
            if (config.log == "syslog") logger->error(error);
        }
        std::fprintf(stderr, "quotamilter serve: %s fails check; not starting\n", config.rules.c_str());
        if (config.log == "syslog") logger->error(fmt::format("{} fails check; not starting", config.rules));
        return 1;
    }

    store::StoreOptions store_options;
    store_options.url = config.redis;
    store_options.timeout = config.store_timeout;
    store_options.key_prefix = config.key_prefix;
    store_options.pool_size = config.store_pool_size;
    std::unique_ptr<store::QuotaStore> store;
    try {
        store = store::open_store(store_options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "quotamilter serve: --redis %s: %s\n", hide_password(config.redis).c_str(), e.what());
        return 1;
    }
    if (config.redis.rfind("memory:", 0) == 0)
        logger->warning("store memory: counters live in this process only: one host, lost on restart; for trials and tests");

    std::unique_ptr<filter::Metrics> metrics;
    try {
        metrics = config.metrics.empty() ? std::make_unique<filter::NoMetrics>()
                                         : make_prometheus_metrics(config.metrics);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "quotamilter serve: metrics %s: %s\n", config.metrics.c_str(), e.what());
        return 1;
    }
    metrics->rules_loaded(true);
    std::unique_ptr<store::QuotaStore> measured_store = filter::measure_store_calls(*store, *metrics);

    filter::RulesHolder holder(loaded.rules);
    filter::FilterSettings settings;
    settings.on_store_error = config.on_store_error;
    settings.non_smtp = config.non_smtp;
    filter::FilterEnvironment environment(holder, *measured_store, *logger, settings, metrics.get());

    milter::MilterRunOptions run_options;
    run_options.socket = config.socket;
    run_options.socket_mode = config.socket_mode;
    run_options.listen_backlog = config.listen_backlog;
    run_options.timeout = config.milter_timeout;
    run_options.user = config.user;
    run_options.group = config.group;
    try {
        milter::open_milter_socket(environment, run_options);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "quotamilter serve: %s\n", e.what());
        if (config.log == "syslog") logger->error(e.what());
        return 1;
    }
    logger->info(fmt::format("starting: socket={} rules={} ({}{}) store={} on_store_error={}{}", config.socket,
                             config.rules, filter::describe_rules(*loaded.rules),
                             config.monitor ? ", all in monitor mode (global switch)" : "", hide_password(config.redis),
                             config.on_store_error == filter::OnStoreError::tempfail ? "tempfail" : "accept",
                             config.metrics.empty() ? "" : " metrics=http://" + config.metrics + "/metrics"));
    loaded.rules.reset();

    int status = 0;
    {
        SignalThread signal_thread(holder, config.rules, config.monitor, *logger, *metrics, environment.open_sessions,
                                   config.shutdown_timeout);
        status = milter::run_milter_loop();
    }

    // Once smfi_main has returned libmilter serves no open connection any
    // more: waiting for them would only stall their SMTP clients. Wait just
    // for callbacks still running (bounded by the store timeout), then leave;
    // Postfix applies its milter_default_action to the sessions left open.
    const auto deadline = std::chrono::steady_clock::now() + 4 * config.store_timeout + std::chrono::seconds(1);
    while (milter::callbacks_in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    const long left = environment.open_sessions.load();
    if (left > 0 || milter::callbacks_in_flight() > 0) {
        logger->warning(fmt::format("stopped; closing {} open milter connections (Postfix applies its "
                                    "milter_default_action to them)", left));
        std::fflush(nullptr);
        std::_Exit(status);  // never free what libmilter's threads may still reach
    }
    logger->info("stopped");
    return status;
}

}  // namespace quotamilter::cli
