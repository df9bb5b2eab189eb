// The ctlab executable: wiring only; every command lives in core/src/cli.
#include "cli/cli.h"

int main(int argc, char** argv) { return ctlab::run_cli(argc, argv); }
