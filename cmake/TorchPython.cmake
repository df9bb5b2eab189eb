# LibTorch from a Python's `torch` package (a PyPI wheel, a conda env): with
# CTLAB_TORCH_PYTHON set (the presets `wheel` and `custom` set it; scripts/build.sh passes
# the one it chose), the package's CMake folder and the package folder itself go first on
# CMAKE_PREFIX_PATH (so TorchConfig's find_library looks in torch/lib before the system's
# folders, where Debian's libtorch.so may be), the NCCL headers of the nvidia-nccl wheel
# beside it become CTLAB_NCCL_INCLUDE (so ProcessGroupNCCL's layout matches the library),
# and for a CUDA package Hopper is named (TORCH_CUDA_ARCH_LIST; no GPU is needed to
# compile) and the CUDA toolkit is found in CUDA_HOME or /usr/local/cuda.
set(CTLAB_TORCH_PYTHON "" CACHE FILEPATH
  "a Python whose torch package ctlab builds against; empty: LibTorch from CMAKE_PREFIX_PATH")
if(NOT CTLAB_TORCH_PYTHON)
  return()
endif()

function(_ctlab_torch_python_query code out)
  execute_process(COMMAND "${CTLAB_TORCH_PYTHON}" -c "${code}" OUTPUT_VARIABLE value
    RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(NOT rc EQUAL 0)
    set(value "")
  endif()
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

_ctlab_torch_python_query("import os, torch; print(torch.utils.cmake_prefix_path + ';' + os.path.dirname(torch.__file__))"
  _ctlab_torch_prefix)
if(NOT _ctlab_torch_prefix)
  message(FATAL_ERROR "CTLAB_TORCH_PYTHON = ${CTLAB_TORCH_PYTHON}: no Python with a torch package there "
    "(scripts/build.sh --torch wheel installs the wheel into ~/.cache/ctlab/torch-<version>)")
endif()
list(PREPEND CMAKE_PREFIX_PATH ${_ctlab_torch_prefix})
message(STATUS "ctlab: LibTorch of ${CTLAB_TORCH_PYTHON} (${_ctlab_torch_prefix})")

_ctlab_torch_python_query("import os, nvidia.nccl as n; print(os.path.join(list(n.__path__)[0], 'include'))"
  _ctlab_nccl_include)
if(_ctlab_nccl_include AND EXISTS "${_ctlab_nccl_include}/nccl.h")
  set(CTLAB_NCCL_INCLUDE "${_ctlab_nccl_include}" CACHE PATH "nccl.h of the NCCL LibTorch was built with")
endif()

_ctlab_torch_python_query("import torch; print(torch.version.cuda or '')" _ctlab_torch_cuda)
if(_ctlab_torch_cuda)
  if(NOT DEFINED TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "9.0")
  endif()
  if(NOT DEFINED CUDAToolkit_ROOT)
    if(DEFINED ENV{CUDA_HOME})
      set(CUDAToolkit_ROOT "$ENV{CUDA_HOME}")
    elseif(EXISTS /usr/local/cuda)
      set(CUDAToolkit_ROOT /usr/local/cuda)
    endif()
  endif()
endif()
