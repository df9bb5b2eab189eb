// A registry of named components (datasets, export tables, commands): each entry is a
// struct with at least a `name` and a `help` string, added once and looked up by name.
// The built-in entries are listed once, in a .def file of `MACRO(factory)` lines (an
// X-macro list) that the registry's function reads in place:
//   #define CTLAB_COMMAND(f) CTLAB_REGISTRY_ENTRY(CommandDef, f)
//   CTLAB_REGISTRY_BEGIN(CommandDef, commands, "command")
//   #include "cli/builtin_commands.def"
//   CTLAB_REGISTRY_END
//   #undef CTLAB_COMMAND
// defines `Registry<CommandDef>& commands()`, built at its first call in the file's order.
// Help texts and "expected one of ..." lists come from the registry, so adding a
// component never edits a list elsewhere. Entries keep their addresses while the registry
// lives (std::deque); lookups are not synchronised, so register before starting threads.
#pragma once

#include <deque>
#include <initializer_list>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/text.h"

// One entry of a .def list: the factory `factory` (a function `Def factory()` defined in
// its own file, declared here).
#define CTLAB_REGISTRY_ENTRY(Def, factory) \
  [] {                                     \
    extern Def factory();                  \
    return factory();                      \
  },
// The function `Registry<Def>& function()` around the entries included between the two.
#define CTLAB_REGISTRY_BEGIN(Def, function, kind) \
  Registry<Def>& function() {                     \
    static Registry<Def> registry(kind, {
#define CTLAB_REGISTRY_END \
  });                      \
  return registry;         \
  }

namespace ctlab {

template <class Def>
class Registry {
 public:
  // `kind` names the component in messages: "dataset", "export table", "command".
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}
  // With the entries the factories return, in order.
  Registry(std::string kind, std::initializer_list<Def (*)()> factories) : kind_(std::move(kind)) {
    for (auto factory : factories) add(factory());
  }

  // Adds an entry; throws ctlab::Error for an empty or already registered name.
  const Def& add(Def def) {
    if (def.name.empty()) throw Error("a " + kind_ + " needs a name", ErrorKind::Run);
    if (find(def.name)) throw Error(kind_ + " '" + def.name + "' is registered twice", ErrorKind::Run);
    entries_.push_back(std::move(def));
    return entries_.back();
  }
  // Removes an entry (tests that register a toy one clean up with it). Invalidates
  // references to later entries.
  bool remove(const std::string& name) {
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->name == name) {
        entries_.erase(it);
        return true;
      }
    return false;
  }
  const Def* find(const std::string& name) const {
    for (const auto& d : entries_)
      if (d.name == name) return &d;
    return nullptr;
  }
  // Throws ctlab::Error (a usage error) naming the unknown name and every known one.
  const Def& get(const std::string& name) const {
    if (const Def* d = find(name)) return *d;
    throw Error("unknown " + kind_ + " '" + name + "'" + did_you_mean(name, names()) + "; expected " +
                expected());
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& d : entries_) out.push_back(d.name);
    return out;
  }
  // "one of a, b, c" (or "a" when there is one).
  std::string expected() const {
    auto n = names();
    return n.size() == 1 ? n[0] : "one of " + join(n, ", ");
  }
  const std::deque<Def>& all() const { return entries_; }
  const std::string& kind() const { return kind_; }

 private:
  std::string kind_;
  std::deque<Def> entries_;
};

}  // namespace ctlab
