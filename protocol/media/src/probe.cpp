#include "wa/media/media.hpp"
