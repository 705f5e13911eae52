package comfytest

import (
	"fmt"
	"slices"
)

// profile is what differs between the ComfyUI versions a Server can behave
// as, each item as recorded in testdata/transcripts (the 0.8.0 README there
// lists the differences).
type profile struct {
	version string
	// samplers is KSampler.SAMPLERS, the sampler_name combo.
	samplers []string
	// jobs is the /api/jobs API (0.8.0).
	jobs bool
	// createTime adds extra_data.create_time (ms) at submission and hides
	// the sensitive extra_data keys from /queue as well as history (0.8.0).
	createTime bool
	// featureExtension adds "extension": {"manager": {"supports_v4": true}}
	// to /features and the WebSocket feature_flags reply (0.8.0).
	featureExtension bool
	// os is /system_stats system.os: os.name (0.3.64) or sys.platform (0.8.0).
	os string
	// frontend and templates are /system_stats' required_frontend_version
	// and required_templates_version.
	frontend, templates string
}

func profileOf(version string) (profile, error) {
	base := []string{"euler", "euler_cfg_pp", "euler_ancestral", "euler_ancestral_cfg_pp", "heun", "heunpp2"}
	rest := []string{"dpm_2", "dpm_2_ancestral", "lms", "dpm_fast", "dpm_adaptive", "dpmpp_2s_ancestral",
		"dpmpp_2s_ancestral_cfg_pp", "dpmpp_sde", "dpmpp_sde_gpu", "dpmpp_2m", "dpmpp_2m_cfg_pp", "dpmpp_2m_sde",
		"dpmpp_2m_sde_gpu", "dpmpp_2m_sde_heun", "dpmpp_2m_sde_heun_gpu", "dpmpp_3m_sde", "dpmpp_3m_sde_gpu", "ddpm",
		"lcm", "ipndm", "ipndm_v", "deis", "res_multistep", "res_multistep_cfg_pp", "res_multistep_ancestral",
		"res_multistep_ancestral_cfg_pp", "gradient_estimation", "gradient_estimation_cfg_pp", "er_sde", "seeds_2",
		"seeds_3", "sa_solver", "sa_solver_pece", "ddim", "uni_pc", "uni_pc_bh2"}
	switch version {
	case Version0364:
		return profile{version: version, samplers: slices.Concat(base, rest), os: "posix",
			frontend: "1.27.10", templates: "0.1.95"}, nil
	case Version080:
		return profile{version: version, samplers: slices.Concat(base, []string{"exp_heun_2_x0", "exp_heun_2_x0_sde"}, rest),
			jobs: true, createTime: true, featureExtension: true, os: "linux", frontend: "1.35.9", templates: "0.7.67"}, nil
	}
	return profile{}, fmt.Errorf("ComfyUI version %q is not simulated; use %q or %q", version, Version0364, Version080)
}
