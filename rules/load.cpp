// Reading and validating rule files. Every problem becomes a Diagnostic at
// the FILE:LINE:COL of the key or value at fault; validation goes on after an
// error so that one run of `check` reports everything. This file reads the
// file and the top level (version, groups, defaults, policies) and orders
// the errors; rules/load_context.h lists the parts that check the rest.
#include "rules/load.h"

#include "rules/keys.h"
#include "rules/load_context.h"
#include "rules/stage_plan.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

namespace quotamilter::rules {

std::string Diagnostic::str() const {
    if (line <= 0) return file + ": " + message;  // the file as a whole (cannot open it)
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

using namespace load_internal;

void load_top(LoadContext& context, const JsonValue& root) {
    if (!context.expect_kind(root, Kind::object, "rule file")) return;
    std::set<std::string> seen;
    const JsonValue* version = nullptr;
    const JsonValue* groups = nullptr;
    const JsonValue* defaults = nullptr;
    const JsonValue* policies = nullptr;
    for (const auto& [member, value] : root.members) {
        if (!context.accept_key(member, keys::top_level, "the rule file", seen)) continue;
        if (member.key == "version") version = &value;
        else if (member.key == "groups") groups = &value;
        else if (member.key == "defaults") defaults = &value;
        else if (member.key == "policies") policies = &value;
        else if (member.key == "description") {
            if (auto text = context.get_string(value, "description")) context.rules.description = *text;
        } else if (member.key == "$schema") {
            context.get_string(value, "$schema");
        }
    }
    if (!version && seen.count("?version")) {
        // reported as a misspelling already
    } else if (!version) {
        context.error(root.position, "missing key \"version\" (expected \"version\": 1)");
    } else if (version->kind != Kind::integer || version->integer != 1) {
        context.error(version->position, "version: expected 1 (the only version this quotamilter understands)");
    }
    // Groups before policies (their match lists expand groups), defaults before quotas (they inherit).
    if (groups) load_groups(context, *groups);
    if (defaults) load_defaults(context, *defaults);
    if (!policies && seen.count("?policies")) {
        // reported as a misspelling already
    } else if (!policies) {
        context.error(root.position, "missing key \"policies\" (expected a list of policies, may be empty)");
    } else {
        load_policies(context, *policies);
    }
}

// The rules, or the errors in file order, each reported once.
LoadResult finish(LoadContext& context) {
    auto& errors = context.errors;
    if (errors.empty()) {
        assign_verdict_stages(context.rules);  // the policies are in evaluation order now
        return std::move(context.rules);
    }
    std::stable_sort(errors.begin(), errors.end(), [](const Diagnostic& a, const Diagnostic& b) {
        return std::tie(a.line, a.column) < std::tie(b.line, b.column);
    });
    errors.erase(std::unique(errors.begin(), errors.end(),
                             [](const Diagnostic& a, const Diagnostic& b) {
                                 return a.line == b.line && a.column == b.column && a.message == b.message;
                             }),
                 errors.end());
    return std::move(errors);
}

}  // namespace

LoadResult load_rules_text(std::string_view text, const std::string& file_name) {
    LoadContext context;
    context.file = file_name;
    context.text = text;
    auto parsed = parse_json_with_positions(text);
    if (auto* syntax = std::get_if<JsonSyntaxError>(&parsed)) {
        context.error(syntax->position, "JSON syntax error: " + syntax->message);
        return finish(context);
    }
    context.rules.source = context.file;
    load_top(context, std::get<JsonValue>(parsed));
    return finish(context);
}

LoadResult load_rules_file(const std::string& path) {
    std::error_code ignored;
    if (std::filesystem::is_directory(path, ignored)) {
        return std::vector<Diagnostic>{Diagnostic{path, 0, 0, "cannot read: is a directory"}};
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::vector<Diagnostic>{Diagnostic{path, 0, 0, std::string("cannot open: ") + std::strerror(errno)}};
    }
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) return std::vector<Diagnostic>{Diagnostic{path, 0, 0, "cannot read the file"}};
    return load_rules_text(content.str(), path);
}

}  // namespace quotamilter::rules
