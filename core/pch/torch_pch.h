// Precompiled header: the heavy LibTorch and Boost includes, compiled once per build.
#pragma once
#include <torch/torch.h>

#include <boost/dll/shared_library.hpp>
#include <boost/program_options.hpp>
