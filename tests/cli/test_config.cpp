// serve's configuration: defaults, the JSON file, flags on top.
#include "cli/cli_args.h"
#include "cli/serve_config.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace quotamilter::cli;
using namespace quotamilter::filter;
using quotamilter::cli::ParsedArgs;
using quotamilter::cli::UsageError;

namespace {

ParsedArgs parse(const std::vector<std::string>& args) {
    return ParsedArgs(args, serve_value_options(), serve_flag_options());
}

struct TempFile {
    explicit TempFile(const std::string& text) {
        path = std::filesystem::temp_directory_path() / ("qm-config-" + std::to_string(::getpid()) + "-" +
                                                         std::to_string(counter++) + ".json");
        std::ofstream(path) << text;
    }
    ~TempFile() { std::filesystem::remove(path); }
    std::filesystem::path path;
    static inline int counter = 0;
};

}  // namespace

TEST_CASE("defaults") {
    ServeConfig config = resolve_serve_config(parse({}));
    CHECK(config.socket == "unix:/run/quotamilter/quotamilter.sock");
    CHECK(config.socket_mode == 0660);
    CHECK(config.redis == "redis://127.0.0.1:6379/0");
    CHECK(config.on_store_error == OnStoreError::tempfail);
    CHECK(config.store_timeout == std::chrono::milliseconds(250));
    CHECK(config.key_prefix == "qm:");
    CHECK(config.log == "stderr");
    CHECK(config.syslog_facility == "mail");
    CHECK(config.log_level == LogLevel::info);
    CHECK_FALSE(config.user.has_value());
    CHECK_FALSE(config.group.has_value());
    CHECK(config.non_smtp == NonSmtpDetection::automatic);
    CHECK(config.metrics.empty());
    CHECK_FALSE(config.monitor);
    CHECK(config.shutdown_timeout == std::chrono::milliseconds(5000));
    CHECK(config.store_pool_size == 64);
}

TEST_CASE("every documented key is read") {
    ServeConfig config = parse_serve_config(R"({
        "socket": "inet:8899@127.0.0.1", "socket_mode": "0600", "rules": "/etc/r.json",
        "redis": "redis://10.0.0.1:6380/2", "on_store_error": "accept", "store_timeout_ms": 100,
        "key_prefix": "x:", "log": "syslog", "syslog_facility": "local3", "log_level": "debug",
        "user": "nobody", "group": "nogroup", "store_pool_size": 4, "non_smtp": "never",
        "listen_backlog": 64, "milter_timeout_s": 60, "shutdown_timeout_ms": 500,
        "metrics": "127.0.0.1:9369", "monitor": true, "description": "test" })",
                                            "c.json");
    CHECK(config.socket == "inet:8899@127.0.0.1");
    CHECK(config.socket_mode == 0600);
    CHECK(config.rules == "/etc/r.json");
    CHECK(config.redis == "redis://10.0.0.1:6380/2");
    CHECK(config.on_store_error == OnStoreError::accept);
    CHECK(config.store_timeout == std::chrono::milliseconds(100));
    CHECK(config.key_prefix == "x:");
    CHECK(config.log == "syslog");
    CHECK(config.syslog_facility == "local3");
    CHECK(config.log_level == LogLevel::debug);
    CHECK(config.user == "nobody");
    CHECK(config.group == "nogroup");
    CHECK(config.store_pool_size == 4);
    CHECK(config.non_smtp == NonSmtpDetection::never);
    CHECK(config.listen_backlog == 64);
    CHECK(config.milter_timeout == std::chrono::seconds(60));
    CHECK(config.shutdown_timeout == std::chrono::milliseconds(500));
    CHECK(config.metrics == "127.0.0.1:9369");
    CHECK(config.monitor);
}

TEST_CASE("unknown keys, wrong types and bad values are errors naming the file and key") {
    auto message_of = [](const std::string& json) -> std::string {
        try {
            parse_serve_config(json, "c.json");
        } catch (const ConfigError& e) {
            return e.what();
        }
        return "";
    };
    CHECK(message_of(R"({"sokcet": "unix:/x"})").find("c.json: unknown key 'sokcet'") == 0);
    CHECK(message_of(R"({"store_timeout_ms": "250"})").find("'store_timeout_ms' must be an integer") !=
          std::string::npos);
    CHECK(message_of(R"({"on_store_error": "ignore"})").find("tempfail or accept") != std::string::npos);
    CHECK(message_of(R"({"socket_mode": 660})").find("'socket_mode' must be a string") != std::string::npos);
    CHECK(message_of(R"({"socket_mode": "0999"})").find("octal") != std::string::npos);
    CHECK(message_of(R"({"log": "file"})").find("stderr or syslog") != std::string::npos);
    CHECK(message_of(R"({"syslog_facility": "mial"})").find("unknown syslog facility") != std::string::npos);
    CHECK(message_of(R"({"log_level": "loud"})").find("unknown log level") != std::string::npos);
    CHECK(message_of(R"({"monitor": "yes"})").find("monitor must be true or false") != std::string::npos);
    CHECK(message_of(R"([1,2])").find("must be a JSON object") != std::string::npos);
    CHECK(message_of(R"({"socket": )").find("invalid JSON") != std::string::npos);
    CHECK(message_of(R"({"socket": "unix:/x"})").empty());
}

TEST_CASE("flags override the config file") {
    TempFile file(R"({ "socket": "unix:/tmp/from-file.sock", "redis": "redis://file:1/0",
                       "on_store_error": "accept", "rules": "/file/rules.json", "key_prefix": "f:" })");
    ServeConfig config = resolve_serve_config(parse({"--config", file.path.string(), "--redis", "memory:",
                                                     "--on-store-error=tempfail", "--syslog",
                                                     "--store-timeout-ms", "50", "--monitor"}));
    CHECK(config.socket == "unix:/tmp/from-file.sock");    // from the file
    CHECK(config.rules == "/file/rules.json");
    CHECK(config.key_prefix == "f:");
    CHECK(config.redis == "memory:");                       // flag wins
    CHECK(config.on_store_error == OnStoreError::tempfail);
    CHECK(config.log == "syslog");
    CHECK(config.store_timeout == std::chrono::milliseconds(50));
    CHECK(config.monitor);
}

TEST_CASE("bad flags are usage errors; a missing config file is an error") {
    CHECK_THROWS_AS(resolve_serve_config(parse({"--on-store-error", "maybe"})), UsageError);
    CHECK_THROWS_AS(resolve_serve_config(parse({"--store-timeout-ms", "fast"})), UsageError);
    CHECK_THROWS_AS(resolve_serve_config(parse({"--log-level", "loud"})), UsageError);
    CHECK_THROWS_AS(resolve_serve_config(parse({"stray"})), UsageError);
    CHECK_THROWS_AS(parse({"--no-such-flag"}), UsageError);
    CHECK_THROWS_AS(resolve_serve_config(parse({"--config", "/nonexistent/qm.json"})), ConfigError);
}
