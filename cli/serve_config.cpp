#include "cli/serve_config.h"

#include "cli/cli_args.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace quotamilter::cli {

mode_t parse_socket_mode(const std::string& text) {
    if (text.size() < 3 || text.size() > 4 || text.find_first_not_of("01234567") != std::string::npos)
        throw ConfigError(fmt::format("socket mode '{}' is not an octal mode like 0660", text));
    unsigned long value = std::stoul(text, nullptr, 8);
    if (value > 0777) throw ConfigError(fmt::format("socket mode '{}' is out of range (at most 0777)", text));
    return static_cast<mode_t>(value);
}

OnStoreError parse_on_store_error(const std::string& text) {
    if (text == "tempfail") return OnStoreError::tempfail;
    if (text == "accept") return OnStoreError::accept;
    throw ConfigError(fmt::format("on_store_error '{}' must be tempfail or accept", text));
}

NonSmtpDetection parse_non_smtp(const std::string& text) {
    if (text == "auto") return NonSmtpDetection::automatic;
    if (text == "always") return NonSmtpDetection::always;
    if (text == "never") return NonSmtpDetection::never;
    throw ConfigError(fmt::format("non_smtp '{}' must be auto, always or never", text));
}

namespace {

using nlohmann::json;

std::string need_string(const json& value, const std::string& key) {
    if (!value.is_string()) throw ConfigError(fmt::format("'{}' must be a string", key));
    return value.get<std::string>();
}

long long need_integer(const json& value, const std::string& key, long long min, long long max) {
    if (!value.is_number_integer()) throw ConfigError(fmt::format("'{}' must be an integer", key));
    long long number = value.get<long long>();
    if (number < min || number > max)
        throw ConfigError(fmt::format("'{}' must be between {} and {}", key, min, max));
    return number;
}

void check_log_target(const std::string& log) {
    if (log != "stderr" && log != "syslog") throw ConfigError(fmt::format("log '{}' must be stderr or syslog", log));
}

void apply_key(ServeConfig& config, const std::string& key, const json& value) {
    if (key == "socket") config.socket = need_string(value, key);
    else if (key == "socket_mode") {
        // a string: JSON has no octal numbers, and 660 vs 0660 must never be confused
        config.socket_mode = parse_socket_mode(need_string(value, key));
    } else if (key == "rules") config.rules = need_string(value, key);
    else if (key == "redis") config.redis = need_string(value, key);
    else if (key == "on_store_error") config.on_store_error = parse_on_store_error(need_string(value, key));
    else if (key == "store_timeout_ms") config.store_timeout = std::chrono::milliseconds(need_integer(value, key, 1, 60000));
    else if (key == "key_prefix") config.key_prefix = need_string(value, key);
    else if (key == "store_pool_size") config.store_pool_size = static_cast<std::size_t>(need_integer(value, key, 1, 256));
    else if (key == "log") {
        config.log = need_string(value, key);
        check_log_target(config.log);
    } else if (key == "syslog_facility") {
        config.syslog_facility = need_string(value, key);
        try {
            (void)filter::syslog_facility_from_name(config.syslog_facility);
        } catch (const std::invalid_argument& e) {
            throw ConfigError(e.what());
        }
    } else if (key == "log_level") {
        try {
            config.log_level = filter::parse_log_level(need_string(value, key));
        } catch (const std::invalid_argument& e) {
            throw ConfigError(e.what());
        }
    } else if (key == "user") config.user = need_string(value, key);
    else if (key == "group") config.group = need_string(value, key);
    else if (key == "non_smtp") config.non_smtp = parse_non_smtp(need_string(value, key));
    else if (key == "listen_backlog") config.listen_backlog = static_cast<int>(need_integer(value, key, 0, 65535));
    else if (key == "milter_timeout_s") config.milter_timeout = std::chrono::seconds(need_integer(value, key, 1, 86400));
    else if (key == "shutdown_timeout_ms") config.shutdown_timeout = std::chrono::milliseconds(need_integer(value, key, 0, 600000));
    else if (key == "metrics") config.metrics = need_string(value, key);
    else if (key == "monitor") {
        if (!value.is_boolean()) throw ConfigError(fmt::format("{} must be true or false", key));
        config.monitor = value.get<bool>();
    }
    else if (key == "$schema" || key == "description") (void)need_string(value, key);  // for editors and humans
    else throw ConfigError(fmt::format("unknown key '{}' (see docs/CONFIG.md)", key));
}

}  // namespace

ServeConfig parse_serve_config(std::string_view json_text, const std::string& file_name) {
    json document;
    try {
        document = json::parse(json_text);
    } catch (const json::parse_error& e) {
        throw ConfigError(fmt::format("{}: invalid JSON at byte {}: {}", file_name, e.byte, e.what()));
    }
    if (!document.is_object()) throw ConfigError(fmt::format("{}: the configuration must be a JSON object", file_name));
    ServeConfig config;
    for (const auto& [key, value] : document.items()) {
        try {
            apply_key(config, key, value);
        } catch (const ConfigError& e) {
            throw ConfigError(fmt::format("{}: {}", file_name, e.what()));
        }
    }
    return config;
}

ServeConfig load_serve_config(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw ConfigError(fmt::format("{}: cannot read the configuration file", path));
    std::ostringstream text;
    text << in.rdbuf();
    return parse_serve_config(text.str(), path);
}

const std::set<std::string>& serve_value_options() {
    static const std::set<std::string> options = {
        "config", "socket", "socket-mode", "rules", "redis", "on-store-error", "store-timeout-ms", "key-prefix",
        "log-level", "syslog-facility", "user", "group", "non-smtp", "metrics"};
    return options;
}

const std::set<std::string>& serve_flag_options() {
    static const std::set<std::string> flags = {"syslog", "monitor", "help"};
    return flags;
}

ServeConfig resolve_serve_config(const ParsedArgs& args) {
    if (!args.positional().empty())
        throw cli::UsageError(fmt::format("unexpected argument '{}'", args.positional().front()));
    ServeConfig config;
    if (auto path = args.value("config")) config = load_serve_config(*path);

    auto flag_error = [](const std::string& flag, const std::exception& e) {
        return cli::UsageError(fmt::format("--{}: {}", flag, e.what()));
    };
    try {
        if (auto v = args.value("socket")) config.socket = *v;
        if (auto v = args.value("socket-mode")) config.socket_mode = parse_socket_mode(*v);
        if (auto v = args.value("rules")) config.rules = *v;
        if (auto v = args.value("redis")) config.redis = *v;
        if (auto v = args.value("on-store-error")) config.on_store_error = parse_on_store_error(*v);
        if (auto v = args.value("key-prefix")) config.key_prefix = *v;
        if (auto v = args.value("user")) config.user = *v;
        if (auto v = args.value("group")) config.group = *v;
        if (auto v = args.value("non-smtp")) config.non_smtp = parse_non_smtp(*v);
        if (auto v = args.value("metrics")) config.metrics = *v;
        if (args.has("syslog")) config.log = "syslog";
        if (args.has("monitor")) config.monitor = true;
    } catch (const ConfigError& e) {
        throw cli::UsageError(e.what());
    }
    if (auto v = args.value("store-timeout-ms")) {
        try {
            std::size_t used = 0;
            long ms = std::stol(*v, &used);
            if (used != v->size() || ms < 1 || ms > 60000) throw std::out_of_range("1..60000");
            config.store_timeout = std::chrono::milliseconds(ms);
        } catch (const std::exception& e) {
            throw flag_error("store-timeout-ms", std::invalid_argument("must be an integer from 1 to 60000"));
        }
    }
    if (auto v = args.value("log-level")) {
        try {
            config.log_level = filter::parse_log_level(*v);
        } catch (const std::invalid_argument& e) {
            throw flag_error("log-level", e);
        }
    }
    if (auto v = args.value("syslog-facility")) {
        try {
            (void)filter::syslog_facility_from_name(*v);
        } catch (const std::invalid_argument& e) {
            throw flag_error("syslog-facility", e);
        }
        config.syslog_facility = *v;
    }
    return config;
}

}  // namespace quotamilter::cli
